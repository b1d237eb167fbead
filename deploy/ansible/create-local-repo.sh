#!/bin/sh
# Make a local repository for one cluster's Ansible configuration:
#
#   deploy/ansible/create-local-repo.sh DIRECTORY [CLUSTER]
#
# DIRECTORY becomes a git repository with links to this kit's roles, playbooks and
# ansible.cfg (so an update of the kit is picked up), and its own copies of the inventory
# (hosts) and of group_vars/default as group_vars/CLUSTER (default: "cluster1") to edit.
# Keep it private: it will hold the cluster's secrets. Run the playbooks from it:
#
#   cd DIRECTORY && ansible-playbook pvc.yml -l CLUSTER -e do_bootstrap=yes
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 DIRECTORY [CLUSTER]" >&2
    exit 2
fi
target=$1
cluster=${2:-cluster1}
case $cluster in
    [a-z]*) ;;
    *) echo "$0: cluster name '$cluster' must start with a lower-case letter" >&2; exit 2 ;;
esac
if ! printf '%s' "$cluster" | grep -Eq '^[a-z][a-z0-9_]{0,31}$'; then
    echo "$0: cluster name '$cluster' may have only a-z, 0-9 and _ (at most 32)" >&2
    exit 2
fi
kit=$(cd "$(dirname "$0")" && pwd)
if [ -e "$target" ] && [ -n "$(ls -A "$target" 2>/dev/null)" ]; then
    echo "$0: $target exists and is not empty" >&2
    exit 1
fi

mkdir -p "$target/group_vars" "$target/files"
cd "$target"
for item in ansible.cfg roles pvc.yml upgrade-pvc.yml; do
    ln -s "$kit/$item" "$item"
done
sed "s/^\[default\]$/[$cluster]/" "$kit/hosts.default" > hosts
cp -r "$kit/group_vars/default" "group_vars/$cluster"
sed -i "s/^cluster_group: default$/cluster_group: $cluster/" "group_vars/$cluster/base.yml"
touch files/.keep
git init -q .
git add -A
git -c user.name="PVC" -c user.email="pvc@localhost" commit -q -m "Configuration of cluster $cluster"
echo "Made $target for cluster $cluster: edit hosts and group_vars/$cluster/, then commit."
