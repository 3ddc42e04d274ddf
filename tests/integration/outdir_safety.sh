#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# We run as root and the output directory may be writable by others. The
# writability probe must never open a name someone planted there (it used
# to open .memtel-write-test with O_TRUNC, so a symlink there truncated any
# file on the host), and the default directory name must not be guessable
# in advance (a random suffix; created new, never reused).
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_workloads

# A directory anybody can write to, with a link planted at the probe's
# name pointing at a file the attacker wants destroyed.
out=$W/shared
mkdir -m 1777 "$out"
printf 'precious\n' >"$W/victim"
chmod 0600 "$W/victim"
ln -s "$W/victim" "$out/.memtel-write-test"

start_heapsites "$W/t1" --hold
run_memtel "$W/m1" 60 --pid "$TARGET_PID" --no-cpu --duration 1 -o "$out"
assert_exit 0 "memtel-bpf -o with a planted link"
assert_no_sanitizer "$W/m1.err"
assert_eq "victim content" precious "$(cat "$W/victim")"
assert_eq "victim mode" 600 "$(stat -c %a "$W/victim")"
[ -L "$out/.memtel-write-test" ] || fail "the planted link was replaced"
assert_file "$out/heap.pb.gz"
# the probe leaves nothing of its own behind
leftover=$(find "$out" -name '*memtel-write-test*' ! -name .memtel-write-test)
[ -z "$leftover" ] || fail "probe files left behind: $leftover"

# Default directory: memtel-PID-YYYYmmdd-HHMMSS-XXXXXX, mode 0755, the
# suffix differing between two sessions started in the same second.
mkdir "$W/cwd"
(cd "$W/cwd" && exec "$MEMTEL_BIN" --pid "$TARGET_PID" --no-cpu --duration 1) \
	>"$W/m2.out" 2>"$W/m2.err" </dev/null &
p1=$!
(cd "$W/cwd" && exec "$MEMTEL_BIN" --pid "$TARGET_PID" --no-cpu --duration 1) \
	>"$W/m3.out" 2>"$W/m3.err" </dev/null &
p2=$!
BG_PIDS+=("$p1" "$p2")
watch_log "$W/m2.out" "$W/m2.err" "$W/m3.out" "$W/m3.err"
wait_exit "$p1" 60 || fail "first default-directory session did not exit"
assert_exit 0 "first default-directory session"
wait_exit "$p2" 60 || fail "second default-directory session did not exit"
assert_exit 0 "second default-directory session"
re="^memtel-$TARGET_PID-[0-9]{8}-[0-9]{6}-[0-9a-v]{6}\$"
dirs=$(ls "$W/cwd")
log "default directories: $(echo $dirs)"
assert_eq "default directories named memtel-PID-STAMP-RANDOM" 2 \
	"$(printf '%s\n' $dirs | grep -Ec "$re")"
for d in $dirs; do
	assert_eq "mode of $d" 755 "$(stat -c %a "$W/cwd/$d")"
	assert_file "$W/cwd/$d/heap.pb.gz"
	grep -q "output: $d/" "$W/m2.out" "$W/m3.out" || fail "summary does not name $d"
done

# A file that cannot be written (a directory stands at its name): the
# error names that file, the others are still written, the summary lists
# only what was written, and the exit status says something failed.
mkdir -p "$W/part/heap.svg" "$W/part/cpu.folded"
run_memtel "$W/m4" 60 --pid "$TARGET_PID" --duration 1 -o "$W/part"
assert_exit 1 "memtel-bpf with unwritable heap.svg and cpu.folded"
assert_no_sanitizer "$W/m4.err"
grep -q 'cannot write .*/heap\.svg' "$W/m4.err" || fail "no error naming heap.svg"
grep -q 'cannot write .*/cpu\.folded' "$W/m4.err" || fail "no error naming cpu.folded"
grep -q 'cannot write .*/cpu\.svg' "$W/m4.err" && fail "an error names cpu.svg, which was written"
for f in heap.pb.gz cpu.pb.gz cpu.svg; do assert_file "$W/part/$f"; done
files=$(sed -n 's/^output: .*(\(.*\))$/\1/p' "$W/m4.out")
log "summary lists: $files"
case " $files " in *" heap.pb.gz "*) ;; *) fail "summary omits heap.pb.gz" ;; esac
case " $files " in *" cpu.svg "*) ;; *) fail "summary omits cpu.svg" ;; esac
case " $files " in *" heap.svg "* | *" cpu.folded "*)
	fail "summary lists a file that was not written: $files" ;;
esac
kill -TERM "$TARGET_PID"
log "outdir safety ok"
