// The Prometheus metrics (server.cfg "metrics"): after a known scenario — two users in a
// room, one message, one malformed and one refused event, one on-screen chat socket,
// backend calls with right and wrong credentials — a scrape shows exactly the expected
// gauges and counters. The metrics listener is off without the "metrics" key.

import assert from 'node:assert/strict';

import { connect, freePort, httpRequest } from './harness.mjs';
import { ALICE, BOB, NAME, ROOM, roomTest } from './room-helpers.mjs';

/** Parses the text exposition into { 'name{labels}': value } (labels as written). */
function parseExposition(text) {
  const samples = {};
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples[line.slice(0, at)] = Number(line.slice(at + 1));
  }
  return samples;
}

async function scrape(port) {
  const r = await httpRequest(`http://127.0.0.1:${port}/metrics`);
  assert.equal(r.status, 200, r.body);
  assert.match(r.headers['content-type'], /^application\/openmetrics-text/);
  assert.ok(r.body.endsWith('# EOF\n'), 'OpenMetrics text ends with # EOF');
  return { text: r.body, samples: parseExposition(r.body) };
}

const metricsPort = await freePort();

roomTest(
  'a scrape after a known scenario shows the expected gauges and counters',
  { generation: 9, serverOverrides: { metrics: { address: '127.0.0.1', port: metricsPort } } },
  async (ctx) => {
    const c = `client="${NAME}"`;
    const alice = await ctx.join(ALICE);
    const bob = await ctx.join(BOB);
    const [a] = alice.tabs;
    const [b] = bob.tabs;
    const im = await connect(ctx.base, `/${NAME}-im`, { transports: ['websocket'] });
    try {
      a.say('hello');
      a.emit('message'); // no arguments: malformed
      b.emit('enterRoom', 999); // no such room: not allowed
      await ctx.settle();
      await ctx.waitHistory(1, "message LIKE '%hello%'");
      const denied = await ctx.backend('Connect', [ROOM, 105], { auth: ['wrong', 'secret'] });
      assert.deepEqual(denied.json, { status: 403, message: 'Access denied' });

      // The write queue is drained once the history row is there; wait for the gauge.
      let m;
      for (let i = 0; i < 100; i++) {
        m = await scrape(metricsPort);
        if (m.samples[`ilias_chat_write_queue_depth{${c}}`] === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const s = m.samples;
      const logins = 2 + (ctx.lostLogins || 0);
      const expected = {
        [`ilias_chat_build_info{version="0.1.0"}`]: 1,
        [`ilias_chat_sockets{${c},feature="room"}`]: 2,
        [`ilias_chat_sockets{${c},feature="im"}`]: 1,
        [`ilias_chat_users{${c},feature="room"}`]: 2,
        [`ilias_chat_users{${c},feature="im"}`]: 0,
        [`ilias_chat_rooms{${c}}`]: 1,
        [`ilias_chat_rooms_occupied{${c}}`]: 1,
        [`ilias_chat_conversations{${c}}`]: 0,
        [`ilias_chat_events_received_total{${c},feature="room",event="login"}`]: logins,
        [`ilias_chat_events_received_total{${c},feature="room",event="enterRoom"}`]: 3,
        [`ilias_chat_events_received_total{${c},feature="room",event="message"}`]: 2,
        [`ilias_chat_events_refused_total{${c},feature="room",event="message",reason="malformed"}`]: 1,
        [`ilias_chat_events_refused_total{${c},feature="room",event="enterRoom",reason="not_allowed"}`]: 1,
        [`ilias_chat_deliveries_total{${c},feature="room",event="message"}`]: 2,
        [`ilias_chat_deliveries_total{${c},feature="room",event="loggedIn"}`]: logins,
        [`ilias_chat_backend_requests_total{${c},action="connect",status="200"}`]: 2,
        [`ilias_chat_backend_requests_total{${c},action="enterprivateroom",status="200"}`]: 2,
        [`ilias_chat_backend_requests_total{${c},action="connect",status="403"}`]: 1,
        [`ilias_chat_write_queue_depth{${c}}`]: 0,
        [`ilias_chat_write_queue_oldest_seconds{${c}}`]: 0,
        [`ilias_chat_database_up{${c}}`]: 1,
      };
      const actual = Object.fromEntries(Object.keys(expected).map((k) => [k, s[k]]));
      assert.deepEqual(actual, expected, m.text);
      // Nothing refused but those two; no database trouble.
      const refused = Object.keys(s).filter((k) => k.startsWith('ilias_chat_events_refused_total'));
      assert.equal(refused.length, 2, m.text);
      assert.ok(!Object.keys(s).some((k) => k.startsWith('ilias_chat_database_errors_total')), m.text);
      // Every write (history, sessions) is in the latency histogram, none waiting.
      assert.ok(s[`ilias_chat_write_duration_seconds_count{${c}}`] >= 1, m.text);
      const started = s['ilias_chat_start_time_seconds'];
      assert.ok(started > Date.now() / 1000 - 120 && started <= Date.now() / 1000, m.text);
      assert.ok(s['ilias_chat_resident_memory_bytes'] > 1e6, m.text);
      // Heartbeat counts itself (it skips the counting middleware): by client, an
      // unknown name as `unknown`, however PHP spells the action.
      const beats = (samples) => [
        samples[`ilias_chat_backend_requests_total{${c},action="heartbeat",status="200"}`] || 0,
        samples['ilias_chat_backend_requests_total{client="unknown",action="heartbeat",status="200"}'] || 0,
      ];
      const beforeBeats = beats(s);
      for (const path of [`Heartbeat/${NAME}`, `heartbeat/${NAME}/`, 'Heartbeat/no-such-client']) {
        const r = await httpRequest(`${ctx.base}/backend/${path}`);
        assert.equal(r.body, '{"status":200}', path);
      }
      const afterBeats = beats((await scrape(metricsPort)).samples);
      assert.deepEqual(afterBeats, [beforeBeats[0] + 2, beforeBeats[1] + 1], 'heartbeats counted');
      // Only /metrics is served there.
      const other = await httpRequest(`http://127.0.0.1:${metricsPort}/backend/Heartbeat/${NAME}`);
      assert.equal(other.status, 404);
    } finally {
      im.disconnect();
    }
  },
);
