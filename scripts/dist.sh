#!/usr/bin/env bash
# Writes the release archives NAME-VERSION.zip (the form PGXN takes) and
# NAME-VERSION.tar.gz into OUTPUT_DIR: the committed tree (HEAD) under the top
# directory NAME-VERSION/, plus the GENERATED files (the Makefile's DATA_built),
# which are not committed. Those are built here from HEAD's own sources, in a
# temporary copy of HEAD, so that they match the sources beside them in the archive
# and so that nothing is written into the repository: any user who may read the
# repository may run this, its owner or not.
# In the archives every file bears the commit's time, the generated ones included,
# so that `make` in the unpacked tree finds them up to date and needs neither git nor
# Python (it rebuilds them with python3 if their sources change). What
# .gitattributes marks export-ignore stays out.
# Usage: scripts/dist.sh NAME VERSION OUTPUT_DIR GENERATED...
# Environment: MAKE, PG_CONFIG and PYTHON, as the Makefile passes them.
set -euo pipefail

usage="usage: scripts/dist.sh NAME VERSION OUTPUT_DIR GENERATED..."
name=${1:?$usage}
version=${2:?$usage}
output_dir=${3:?$usage}
shift 3
(($#)) || { echo "$usage" >&2; exit 2; }
generated=("$@")

fail() {
    echo "dist.sh: $*" >&2
    exit 1
}

mkdir -p "$output_dir"
output_dir=$(cd "$output_dir" && pwd -P)
cd "$(dirname "$0")/.."
repo=$(pwd -P)

# The repository may belong to another user: git then wants it named safe. Without
# .git here, git would look further up and might find some unrelated repository.
[ -e .git ] || fail "$repo is not a git work tree: the archives are made from a clone"
git_() { git -c safe.directory="$repo" -C "$repo" "$@"; }
top=$(git_ rev-parse --show-toplevel)
[ "$top" = "$repo" ] || fail "$repo is not the top of its git work tree ($top is)"
git_ cat-file -e HEAD:META.json 2>/dev/null || fail "HEAD has no META.json: commit it first"
if ! git_ diff --quiet HEAD --; then
    echo "dist.sh: the working tree differs from HEAD; the archives hold HEAD" >&2
fi

base=$name-$version
stage=$(mktemp -d "${TMPDIR:-/tmp}/$name-dist.XXXXXX")
trap 'rm -rf "$stage"' EXIT

# HEAD's tree, where HEAD's Makefile builds the generated files from HEAD's sources.
mkdir "$stage/$base"
git_ archive --format=tar HEAD | tar -x -C "$stage/$base" -f -
"${MAKE:-make}" --no-print-directory -C "$stage/$base" \
    PG_CONFIG="${PG_CONFIG:-pg_config}" PYTHON="${PYTHON:-python3}" "${generated[@]}" ||
    fail "HEAD's Makefile could not build ${generated[*]}: are their rules committed?"

# git archive puts each --add-file under the --prefix given before it, and the tree
# under the last --prefix.
add_files=()
for file in "${generated[@]}"; do
    file=${file#./}
    [ -f "$stage/$base/$file" ] || fail "HEAD's Makefile did not build $file"
    dir=$(dirname "$file")
    if [ "$dir" = . ]; then
        add_files+=("--prefix=$base/")
    else
        add_files+=("--prefix=$base/$dir/")
    fi
    add_files+=("--add-file=$stage/$base/$file")
done

for format in zip tar.gz; do
    archive=$output_dir/$base.$format
    # Written aside first, so that a failure never leaves a partial archive in place.
    git_ archive --format="$format" "${add_files[@]}" --prefix="$base/" \
        -o "$stage/$base.$format" HEAD
    mv -f "$stage/$base.$format" "$archive"
    echo "$archive"
done
