# shellcheck shell=sh
# CNI VERSION answered by skein's launcher without starting Deno: podman runs VERSION before
# every ADD and DEL, and a Deno start costs ~20 ms where this costs ~2. Sourced by the launcher
# (install.sh, tests/_cni.ts) when CNI_COMMAND=VERSION and there are no arguments. It answers
# exactly what cni/version_cmd.ts answers, for the stdin runtimes send (empty, or one
# {"cniVersion":"X"} object) and exits; for any other stdin it leaves what it read in
# $skein_stdin and returns, and the launcher hands that to skein itself.
# cni/version_fast_test.ts checks the answers and the version list against cni/versions.ts.
skein_latest=1.1.0
skein_supported='"0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"'
# With perl (Debian's perl-base is Essential) one process reads, checks and answers, where the
# shell path below runs timeout, cat and sed: ~3 ms of CPU less per call (perf stat). It
# prints the answer and exits 0, or writes what it read (and an "x") to fd 3 and exits 1.
if [ -x /usr/bin/perl ] && ! [ -t 0 ]; then
  { skein_stdin=$(/usr/bin/perl -e '
    my ($latest, $supported) = @ARGV;
    my ($in, $left, $rin) = ("", 0.2, "");
    vec($rin, 0, 1) = 1;
    while ($left > 0) {
      my ($n, $l) = select(my $r = $rin, undef, undef, $left);
      last if $n <= 0;
      my $got = sysread(STDIN, $in, 65536, length $in);
      last if !$got;
      $left = $l;
    }
    my $v = "";
    if ($in =~ /\S/) {
      # One {"cniVersion":"X"} on one line, blank lines around it (as sed below matches).
      $v = $1 if $in =~ /\A\s*\{[ \t]*"cniVersion"[ \t]*:[ \t]*"([^"\\]*)"[ \t]*\}\s*\z/;
      if ($v eq "") {
        open(my $out, ">&=", 3) or exit 2;
        print $out $in, "x";
        exit 1;
      }
    }
    $v = $latest if $v eq "" || index(",$supported,", ",\"$v\",") < 0;
    print "{\"cniVersion\":\"$v\",\"supportedVersions\":[$supported]}\n";
    exit 0;
  ' "$skein_latest" "$skein_supported" 3>&1 >&4 4>&-); skein_rc=$?; } 4>&1
  [ "$skein_rc" = 0 ] && exit 0
  # Any other stdin (or a perl that failed, having read it): the launcher hands it to skein.
  skein_stdin=${skein_stdin%x}
  return 0 2>/dev/null
fi
if [ -t 0 ]; then
  skein_stdin=
else
  # At most 200 ms, like version_cmd.ts: a caller may leave stdin open without writing.
  skein_stdin=$(timeout 0.2 cat 2>/dev/null; echo x)
  skein_stdin=${skein_stdin%x}
fi
skein_v=
case $skein_stdin in
  *[![:space:]]*)
    skein_v=$(printf '%s\n' "$skein_stdin" | sed -n \
      's/^[[:space:]]*{[[:space:]]*"cniVersion"[[:space:]]*:[[:space:]]*"\([^"\\]*\)"[[:space:]]*}[[:space:]]*$/\1/p')
    [ -z "$skein_v" ] && return 0 2>/dev/null
    ;;
esac
case "\"$skein_v\"" in
  '""') skein_v=$skein_latest ;;
  *) case ",$skein_supported," in *",\"$skein_v\","*) ;; *) skein_v=$skein_latest ;; esac ;;
esac
printf '{"cniVersion":"%s","supportedVersions":[%s]}\n' "$skein_v" "$skein_supported"
exit 0
