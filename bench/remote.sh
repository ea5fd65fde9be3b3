#!/bin/sh
# Benchmark of remote builders (issue 20), side by side in one run: 50
# trivial packages (`mkdir -p $out/share; echo $name > ...`, each in its own bwrap sandbox on a busybox
# root) built
#  - here (`magpkg build -j 1`),
#  - on a builder over one SSH connection (`-j 0`, builder jobs 1: the same
#    one-at-a-time order, so the difference is the dispatch cost),
# next to what one ssh round trip per package costs, with a new handshake
# each time (how a dispatcher without connection sharing pays) and over a
# shared control master.
# Per-package overhead = (remote - local) / 51 (the 50 and the root).
#
# The builder is a real sshd on loopback (its own port and host key) that
# logs in the user `magpkgb` (made by .ci/setup) with `magpkg` on its PATH.
#
# Usage: bench/remote.sh [MAGPKG]   (default: target/release/magpkg)
# Needs: root (to start sshd), openssh-server, hyperfine, bwrap, busybox-static.
set -eu

MAGPKG=${1:-${CARGO_TARGET_DIR:-target}/release/magpkg}
MAGPKG=$(realpath "$MAGPKG")
N=50
WORK=$(mktemp -d /tmp/magpkg-remote-bench.XXXXXX)
chmod 755 "$WORK"
SSHD_PID=
cleanup() {
    if [ -n "$SSHD_PID" ]; then kill "$SSHD_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
export HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/config" XDG_STATE_HOME="$WORK/state"
export MAGPKG_STATE="$WORK/state/magpkg" MAGPKG_SUBSTITUTE=0
mkdir -p "$HOME"

# The builder: sshd on a free port, the user's store in $WORK.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ssh-keygen -q -t ed25519 -N "" -f "$WORK/host"
ssh-keygen -q -t ed25519 -N "" -f "$WORK/client"
cp "$WORK/client.pub" "$WORK/authorized_keys"
mkdir -p /run/sshd "$WORK/builder-store"
chown magpkgb: "$WORK/builder-store"
cat > "$WORK/sshd_config" <<EOF
Port $PORT
ListenAddress 127.0.0.1
HostKey $WORK/host
PidFile none
AuthorizedKeysFile $WORK/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers magpkgb
MaxSessions 64
Match User magpkgb
  SetEnv MAGPKG_STORE=$WORK/builder-store PATH=$(dirname "$MAGPKG"):/usr/bin:/bin
EOF
/usr/sbin/sshd -D -e -f "$WORK/sshd_config" 2>"$WORK/sshd.log" &
SSHD_PID=$!
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$WORK/host.pub")" > "$WORK/known_hosts"
SSH="ssh -F /dev/null -i $WORK/client -o IdentitiesOnly=yes -o UserKnownHostsFile=$WORK/known_hosts -o StrictHostKeyChecking=yes -o LogLevel=ERROR"
export MAGPKG_SSH_COMMAND="$SSH"
for _ in 1 2 3 4 5 6 7 8 9 10; do
    $SSH -p "$PORT" magpkgb@127.0.0.1 true 2>/dev/null && break
    sleep 0.2
done

# The packages: a busybox root and N trivial scripts on it.
mkdir -p "$WORK/root/bin"
cp /bin/busybox "$WORK/root/bin/busybox"
tar -C "$WORK/root" --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner -cf "$WORK/root.tar" .
SHA=$(sha256sum "$WORK/root.tar" | cut -d' ' -f1)
{
    echo "local root = { name: 'root', version: '1', sources: [{ filename: 'root.tar', sha256: '$SHA', urls: ['file://$WORK/root.tar'] }],"
    echo "  build: { builtin: 'rootfs', links: { '/bin/sh': 'busybox' }, busybox: 'bin/busybox', applets: ['mkdir'] } };"
    echo "[ { name: 'p' + i, version: '1', buildDeps: [root], build: 'mkdir -p \$out/share; echo \$name > \$out/share/name' } for i in std.range(1, $N) ]"
} > "$WORK/many.jsonnet"

echo "== $N trivial packages: here vs on a builder over one SSH connection"
hyperfine --warmup 1 --runs 5 \
    --prepare "rm -rf '$WORK/store-local'" \
    -n "magpkg build -j 1 (here)" \
    "MAGPKG_STORE='$WORK/store-local' '$MAGPKG' -q build -j 1 -f '$WORK/many.jsonnet'" \
    --prepare "rm -rf '$WORK/store-remote' '$WORK/builder-store/'*" \
    -n "magpkg build -j 0 --builders (remote)" \
    "MAGPKG_STORE='$WORK/store-remote' '$MAGPKG' -q build -j 0 --builders 'ssh://magpkgb@127.0.0.1:$PORT' -f '$WORK/many.jsonnet'" \
    --prepare "true" \
    -n "$N x ssh true (new connection each)" \
    "for i in \$(seq $N); do $SSH -p $PORT magpkgb@127.0.0.1 true; done" \
    --prepare "$SSH -p $PORT -o ControlMaster=yes -o ControlPath=$WORK/cm -o ControlPersist=60 -N -f magpkgb@127.0.0.1" \
    -n "$N x ssh true (shared connection)" \
    "for i in \$(seq $N); do $SSH -p $PORT -o ControlPath=$WORK/cm magpkgb@127.0.0.1 true; done" \
    --export-json "$WORK/results.json"
python3 - "$WORK/results.json" "$N" <<'EOF'
import json, sys
r = {x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
n = int(sys.argv[2]) + 1
local = next(v for k, v in r.items() if "here" in k)
remote = next(v for k, v in r.items() if "remote" in k)
print(f"per-package dispatch overhead: {(remote - local) / n * 1000:.1f} ms (remote {remote:.2f} s, local {local:.2f} s, {n} packages)")
EOF
