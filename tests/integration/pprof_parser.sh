#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The tests' own reader (tests/lib/pprof_raw.py) against the installed
# `go tool pprof`: a hand-written profile must parse back to what was
# written, and its checkers must flag what they are meant to. Needs no BPF.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_go
python3 "$PPROF_RAW" selftest || fail "pprof_raw.py selftest"
