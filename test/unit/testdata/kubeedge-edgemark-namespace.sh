set -eu
ip link set lo up
ip addr add 10.250.0.1/32 dev lo
mount --rbind /usr '/work/peer/ke-edgemark-0/root with '\''quote'\''/usr'
mount -o remount,bind,ro '/work/peer/ke-edgemark-0/root with '\''quote'\''/usr'
mount --rbind /lib64 '/work/peer/ke-edgemark-0/root with '\''quote'\''/lib64'
mount -o remount,bind,ro '/work/peer/ke-edgemark-0/root with '\''quote'\''/lib64'
mount -t proc proc '/work/peer/ke-edgemark-0/root with '\''quote'\''/proc'
mount --rbind /sys '/work/peer/ke-edgemark-0/root with '\''quote'\''/sys'
mount -o remount,bind,ro '/work/peer/ke-edgemark-0/root with '\''quote'\''/sys'
mount --rbind /dev '/work/peer/ke-edgemark-0/root with '\''quote'\''/dev'
mount --bind '/cache/bin/kubeedge-v1.23.1-peers-abc' '/work/peer/ke-edgemark-0/root with '\''quote'\''/opt/edgemark'
mount -o remount,bind,ro '/work/peer/ke-edgemark-0/root with '\''quote'\''/opt/edgemark'
socat TCP-LISTEN:10000,bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:'/work/peer/sock/ws.sock' </dev/null &
socat -T 30 TCP-LISTEN:10002,bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:'/work/peer/sock/https.sock' </dev/null &
ws=$(printf '0100007F:%04X' 10000); hs=$(printf '0100007F:%04X' 10002); n=0
until grep -q " $ws 00000000:0000 0A" /proc/net/tcp && grep -q " $hs 00000000:0000 0A" /proc/net/tcp; do
  n=$((n+1)); [ $n -lt 100 ] || { echo "in-namespace forwarders did not listen" >&2; exit 1; }; sleep 0.05
done
cd '/work/peer/ke-edgemark-0/root with '\''quote'\'''
exec chroot '/work/peer/ke-edgemark-0/root with '\''quote'\''' '/opt/edgemark/edgemark-startfix' "$@"
