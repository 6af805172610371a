#!/usr/bin/env bash
# Validates every Kubernetes manifest under deploy/kubernetes against the
# Kubernetes API schemas, offline and strictly (unknown fields are errors),
# with kubernetes-validate (PyPI; `.ci/run` installs it). When kubectl is
# present, the kustomization is also rendered and its output validated.
#
#   deploy/validate.sh                          # Kubernetes 1.30
#   KUBERNETES_VERSION=1.32.0 deploy/validate.sh
set -euo pipefail
cd "$(dirname "$0")/kubernetes"

version="${KUBERNETES_VERSION:-1.30.0}"
if ! command -v kubernetes-validate >/dev/null 2>&1; then
  echo "kubernetes-validate not found: pip install kubernetes-validate (see .ci/run)" >&2
  exit 127
fi

# Every manifest but the kustomization itself, which is not an API object.
manifests=()
while IFS= read -r -d '' file; do
  manifests+=("$file")
done < <(find . -name '*.yaml' ! -name kustomization.yaml -print0 | sort -z)
if [ ${#manifests[@]} -eq 0 ]; then
  echo "no manifests found under $(pwd)" >&2
  exit 1
fi

kubernetes-validate --strict --quiet --kubernetes-version "$version" "${manifests[@]}"

if command -v kubectl >/dev/null 2>&1; then
  rendered="$(mktemp --suffix=.yaml)"
  trap 'rm -f "$rendered"' EXIT
  kubectl kustomize . >"$rendered"
  kubernetes-validate --strict --quiet --kubernetes-version "$version" "$rendered"
  echo "kustomization renders and validates"
fi
echo "validated ${#manifests[@]} manifest files against Kubernetes $version (strict)"
