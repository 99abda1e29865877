# Sourced by the peers' virtualenv scripts (d3rlpy.sh, generativerl.sh, diffusion_ql.sh,
# fql.sh, idql.sh): what they share.

# venv_target VENV_DIR: sets repo (this repository) and target (VENV_DIR's absolute path);
# exits if VENV_DIR lies inside the repository.
venv_target() {
    repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
    target=$(realpath -m "$1")
    case "$target/" in
    "$repo"/*)
        echo "error: VENV_DIR=$1 lies inside the repository; give a folder outside it" >&2
        exit 2
        ;;
    esac
}

# venv_base: the virtualenv at $target with pip upgraded; sets pip (its pip command, an array).
venv_base() {
    python3 -m venv "$target"
    pip=("$target/bin/python" -m pip)
    "${pip[@]}" install -q --upgrade pip
}

# venv_make: venv_base plus torch==$TORCH_VERSION; also sets constraints (a file pinning that
# torch, for the installs that follow).
venv_make() {
    venv_base
    constraints="$target/constraints.txt"
    printf 'torch==%s\n' "$TORCH_VERSION" >"$constraints"
    "${pip[@]}" install -q -c "$constraints" "torch==$TORCH_VERSION"
}
