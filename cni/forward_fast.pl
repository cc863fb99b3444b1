# skein's CNI forwarding client without starting Deno: what cni/forward.ts does (find the
# daemon's socket, hand it the CNI_* variables and the stdin bytes, print its answer), in the
# Perl every Debian system has (perl-base is Essential; only built-ins, no modules). A Deno start
# costs ~17 ms of CPU, this ~2 ms. The launcher (install.sh, tests/_cni.ts) runs it for a
# runtime's call when perl is there; whenever the call is not answered by the daemon it execs
# the Deno entry given as arguments with the same stdin, which runs the call as before:
#
#   perl forward_fast.pl DENO_ENTRY_COMMAND...
#
# - no daemon (no SKEIN_CNI_SOCKET, no cniSocket in /run/skein/subnet.json), the socket missing
#   or refusing, no "A" within 2 s, a decline ("F"), a connection that breaks before the answer:
#   the entry runs in-process (SKEIN_CNI_SOCKET=off).
# - a config naming "leaseFile", stdin over 1 MiB, or a read error: the entry decides it all
#   (cni/forward.ts parses the config; the in-process path reports the size or read error).
# Wire format and the "A"/"G" handshake: cni/forward.ts. cni/forward_fast_test.ts checks both
# clients send requests the daemon reads alike, and the both-mode CNI tests run through it.
use strict;

my $MAX_STDIN = 1 << 20;
my $LEASE_FILE = '/run/skein/subnet.json';

# The daemon accepted the call and the connection broke: the entry decides (cni/forward.ts).
sub orphaned {
  my ($stdin, $socket) = @_;
  $ENV{SKEIN_CNI_ORPHANED} = $socket;
  delegate($stdin, 1);
}

# Execs the Deno entry with stdin: what was read, then the rest ($more: stdin is not at EOF).
sub delegate {
  my ($stdin, $off, $more) = @_;
  $ENV{SKEIN_CNI_SOCKET} = 'off' if $off;
  $SIG{PIPE} = 'DEFAULT';
  pipe(my $r, my $w) or exec @ARGV;
  # More than a pipe holds goes through a writer process; usually it is a few hundred bytes.
  if ($more || length($stdin) > 65536) {
    my $pid = fork();
    if (defined $pid && $pid == 0) {
      close $r;
      syswrite_all($w, $stdin) or exit 0;
      my $buf;
      while ($more && sysread(STDIN, $buf, 65536)) {
        syswrite_all($w, $buf) or exit 0;
      }
      exit 0;
    }
  } else {
    syswrite_all($w, $stdin);
  }
  close $w;
  open(STDIN, '<&', $r) or exit 1;
  close $r;
  exec @ARGV;
  exit 1;
}

sub syswrite_all {
  my ($fh, $data) = @_;
  my $off = 0;
  while ($off < length $data) {
    my $n = syswrite($fh, $data, length($data) - $off, $off);
    return 0 unless defined $n && $n > 0;
    $off += $n;
  }
  return 1;
}

sub json_str {
  my ($s) = @_;
  $s =~ s/(["\\])/\\$1/g;
  $s =~ s/([\x00-\x1f])/sprintf('\\u%04x', ord $1)/ge;
  return "\"$s\"";
}

# Waits until $fh is readable; false after $secs (a signal's EINTR waits on for the rest).
sub readable {
  my ($fh, $secs) = @_;
  my $rin = '';
  vec($rin, fileno($fh), 1) = 1;
  while (1) {
    my ($n, $left) = select(my $rout = $rin, undef, undef, $secs);
    return 1 if $n > 0;
    return 0 if $n == 0 || $! + 0 != 4;    # EINTR
    $secs = $left;
  }
}

$SIG{PIPE} = 'IGNORE';
binmode STDIN;
my $stdin = '';
while (1) {
  my $n = sysread(STDIN, $stdin, 65536, length $stdin);
  delegate($stdin, 0) unless defined $n;
  last if $n == 0;
  delegate($stdin, 0, 1) if length($stdin) > $MAX_STDIN;
}
delegate($stdin, 0) if $stdin =~ /"leaseFile"/;

my $socket = $ENV{SKEIN_CNI_SOCKET};
if (!defined $socket) {
  if (open(my $lf, '<', $LEASE_FILE)) {
    local $/;
    my $text = <$lf>;
    $socket = $1 if defined $text && $text =~ /"cniSocket"\s*:\s*"(\/[^"\\]*)"/;
  }
}
delegate($stdin, 1) if !defined $socket || $socket eq '' || $socket eq 'off';
# Any other value the entry may treat differently (cni/forward.ts takes it as a path).
delegate($stdin, 0) if substr($socket, 0, 1) ne '/' || length($socket) > 107;

socket(my $conn, 1, 1, 0) or delegate($stdin, 1);    # AF_UNIX, SOCK_STREAM
connect($conn, pack('S a108', 1, $socket)) or delegate($stdin, 1);
binmode $conn;

my @env = map { json_str($_) . ':' . json_str($ENV{$_}) } sort grep { /^CNI_/ } keys %ENV;
my $header = '{"env":{' . join(',', @env) . '}}';
syswrite_all($conn, 'SKC1' . pack('N', length $header) . $header . pack('N', length $stdin) . $stdin)
  or delegate($stdin, 1);

readable($conn, 2) or delegate($stdin, 1);
my $first = '';
sysread($conn, $first, 1) == 1 && $first eq 'A' or delegate($stdin, 1);
syswrite_all($conn, 'G') or delegate($stdin, 1);

# The daemon runs the call now: from here on, running it in-process could run it twice. An
# answer cut short goes to the entry with SKEIN_CNI_ORPHANED: cni/forward.ts (orphanedCall) then
# waits for a daemon still running it, or undoes a dead daemon's half-done ADD first.
my $reply = '';
my $until = time + 120;
while (1) {
  if (!readable($conn, $until - time)) {
    # "Try again later" with the config's version: its first key, or its only "cniVersion".
    my @all = $stdin =~ /"cniVersion"\s*:\s*"(\d+\.\d+\.\d+)"/g;
    my $v = $stdin =~ /^\s*\{\s*"cniVersion"\s*:\s*"(\d+\.\d+\.\d+)"/ ? $1
      : @all == 1 ? $all[0] : '1.1.0';
    syswrite_all(\*STDOUT, '{"cniVersion":' . json_str($v) . ',"code":11,"msg":' .
      json_str("the skein daemon on $socket did not answer in time") . "}\n");
    exit 1;
  }
  my $n = sysread($conn, $reply, 65536, length $reply);
  orphaned($stdin, $socket) unless defined $n;
  last if $n == 0;
}
close $conn;
# exit code, stdout length, stdout, stderr length, stderr (after the "A" read above)
orphaned($stdin, $socket) if length($reply) < 12;
my ($code, $outlen) = unpack('N N', $reply);
orphaned($stdin, $socket) if 8 + $outlen + 4 > length $reply;
my $errlen = unpack('N', substr($reply, 8 + $outlen, 4));
orphaned($stdin, $socket) if 12 + $outlen + $errlen != length $reply;
binmode STDOUT;
binmode STDERR;
syswrite_all(\*STDOUT, substr($reply, 8, $outlen));
syswrite_all(\*STDERR, substr($reply, 12 + $outlen, $errlen));
exit $code;
