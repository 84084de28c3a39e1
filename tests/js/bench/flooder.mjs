// Helper of edges.mjs (flood): one browser in its own process (so that its 100,000
// emits do not delay the bystander's client), logged in as user 4666 of room 1.
// Prints "ready", then after the flood "cut <ms>" once the server disconnected it.
//
//   node tests/js/bench/flooder.mjs BASE_URL COUNT
import { connect } from '../harness.mjs';

const [base, count] = [process.argv[2], Number(process.argv[3] ?? 100000)];
const socket = await connect(base, '/bench', { transports: ['websocket'] });
const entered = new Promise((resolve) => socket.once('private_room_entered', resolve));
socket.once('loggedIn', () => socket.emit('enterRoom', 1));
socket.emit('login', 'user4666', 4666);
await entered;
console.log('ready');
process.stdin.once('data', () => {
  const t0 = Date.now();
  socket.once('disconnect', () => {
    console.log(`cut ${Date.now() - t0}`);
    process.exit(0);
  });
  for (let i = 0; i < count; i++) socket.emit('message', 42, 1);
});
setTimeout(() => process.exit(3), 120000);
