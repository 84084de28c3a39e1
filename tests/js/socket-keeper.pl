#!/usr/bin/perl
# Plays systemd's ilias-chat.socket for the restart tests and benchmarks: holds one
# listening TCP socket on 127.0.0.1:PORT for its whole life and starts the daemon on it
# with the listen-fd protocol (fd 3, LISTEN_FDS=1, LISTEN_PID=<the daemon's pid>) as
# often as asked, so connections made while one daemon stops and the next starts wait
# in the backlog instead of being refused.
#
#   perl socket-keeper.pl PORT COMMAND [ARG...]
#
# Lines on stdin:  "start LOGFILE"  starts COMMAND (stdout and stderr appended to
#                                  LOGFILE); answers "started PID".
# Lines on stdout: "listening PORT" once bound; "exited PID STATUS" when a daemon ends.
# The keeper ends (closing the socket) when stdin closes.
use strict;
use warnings;
use IO::Handle;
use POSIX ();
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_REUSEADDR inet_aton sockaddr_in);

# Descriptors up to 10 stay open across exec (the listening socket must).
BEGIN { $^F = 10; }

my ($port, @command) = @ARGV;
die "usage: $0 PORT COMMAND [ARG...]\n" unless defined $port && @command;

socket(my $listener, PF_INET, SOCK_STREAM, 0) or die "socket: $!\n";
setsockopt($listener, SOL_SOCKET, SO_REUSEADDR, pack('l', 1)) or die "setsockopt: $!\n";
bind($listener, sockaddr_in($port, inet_aton('127.0.0.1'))) or die "bind 127.0.0.1:$port: $!\n";
listen($listener, 4096) or die "listen: $!\n";

STDOUT->autoflush(1);
print "listening $port\n";

$SIG{CHLD} = sub {
    while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
        print "exited $pid $?\n";
    }
};

while (1) {
    my $line = <STDIN>;
    if (!defined $line) {
        next if $!{EINTR};
        last;
    }
    chomp $line;
    my ($verb, $log) = split / /, $line, 2;
    next unless defined $verb && $verb eq 'start' && defined $log;
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        my $fd = fileno($listener);
        if ($fd != 3) {
            defined POSIX::dup2($fd, 3) or POSIX::_exit(126);
            POSIX::close($fd);
        }
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>>', $log) or POSIX::_exit(126);
        open(STDERR, '>&', \*STDOUT) or POSIX::_exit(126);
        $ENV{LISTEN_FDS} = '1';
        $ENV{LISTEN_PID} = "$$";
        # As systemd names the socket after its unit (KEEPER_FDNAMES=ilias-chat.socket).
        if (defined $ENV{KEEPER_FDNAMES}) { $ENV{LISTEN_FDNAMES} = $ENV{KEEPER_FDNAMES}; }
        else { delete $ENV{LISTEN_FDNAMES}; }
        { no warnings 'exec'; exec { $command[0] } @command; }
        POSIX::_exit(127);
    }
    print "started $pid\n";
}
