# Sourced by engine.sh and build-image.sh: write var/podman/containers.conf from
# include/container/containers.conf with the nofile/nproc ulimits set to what this machine allows, and
# export CONTAINERS_CONF. Podman otherwise asks runc for limits above what it may set (here the
# hard nofile limit is 20000 and nproc above pid_max is refused), and runc fails with "error
# setting rlimits for ready process ... operation not permitted". A stage needs few processes.
_conf_dir="${DATAPIPE_PODMAN_DIR:-$ROOT/var/podman}"
mkdir -p "$_conf_dir"
_nofile="$(ulimit -Hn)"; [ "$_nofile" = unlimited ] && _nofile=65536; [ "$_nofile" -gt 65536 ] && _nofile=65536
_nproc="$(ulimit -Hu)"; [ "$_nproc" = unlimited ] && _nproc=4096; [ "$_nproc" -gt 4096 ] && _nproc=4096
sed -e "s/@NOFILE@/$_nofile/g" -e "s/@NPROC@/$_nproc/g" "$ROOT/include/container/containers.conf" > "$_conf_dir/containers.conf"
export CONTAINERS_CONF="$_conf_dir/containers.conf"
unset _conf_dir _nofile _nproc
