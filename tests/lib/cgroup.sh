# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
# cgroup.sh - cgroup v2 directories for the attribution tests, sourced
# after common.sh with ROOT_CG's name given: cgroup_setup NAME finds the
# cgroup2 mount in /proc/mounts (CG; never assumed), sets ROOT_CG=$CG/NAME
# and registers the cleanup (processes moved back to the root, then the
# directories removed, children first); mkcg REL creates REL under
# ROOT_CG and sets CGDIR.

cgroup_setup() {
	CG=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	[ -n "$CG" ] || fail "no cgroup2 mount in /proc/mounts"
	ROOT_CG=$CG/$1
	CREATED=()
	CLEANUP_HOOK=cleanup_cgroups
}

cleanup_cgroups() {
	local d i
	# children first: rmdir only removes empty cgroups
	for ((i = ${#CREATED[@]} - 1; i >= 0; i--)); do
		d=${CREATED[$i]}
		[ -f "$d/cgroup.procs" ] && while read -r p; do
			echo "$p" >"$CG/cgroup.procs" 2>/dev/null
		done <"$d/cgroup.procs"
		rmdir "$d" 2>/dev/null
	done
}

# mkcg RELATIVE-PATH: mkdir -p under ROOT_CG, remembering each level for
# cleanup; sets CGDIR (not echoed: a $(...) subshell would forget CREATED).
mkcg() {
	local rel=$1 cur=$ROOT_CG part
	[ -d "$cur" ] || { mkdir "$cur" || fail "cannot create $cur"; CREATED+=("$cur"); }
	IFS=/ read -ra parts <<<"$rel"
	for part in "${parts[@]}"; do
		cur=$cur/$part
		[ -d "$cur" ] || { mkdir "$cur" || fail "cannot create $cur"; CREATED+=("$cur"); }
	done
	CGDIR=$cur
}
