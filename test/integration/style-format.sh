#!/bin/bash
# Every C file as .clang-format (the house style) writes it: `make format` fixes drift, and this
# check fails on it. The check is shown to fail on a misformatted copy first.
. "$(dirname "$0")/lib.sh"

command -v clang-format >/dev/null || { fail style_format "clang-format missing: make deps"; exit 1; }
W=$(mktemp -d /tmp/tund-t-format-XXXXXX) || exit 1
T_FILES+=("$W")
cp "$TOP/.clang-format" "$W/"
printf 'int  f(int x){return x+1;}\n' >"$W/bad.c"
if (cd "$W" && clang-format --dry-run --Werror bad.c) >/dev/null 2>&1; then
	fail style_format_check_can_fail "a misformatted file passed"
else
	pass style_format_check_can_fail
fi
cd "$TOP" || exit 1
if git rev-parse --git-dir >/dev/null 2>&1; then
	mapfile -t files < <(git ls-files '*.c' '*.h')
else
	mapfile -t files < <(find . -path ./build\* -prune -o \( -name '*.c' -o -name '*.h' \) -print)
fi
if out=$(clang-format --dry-run --Werror "${files[@]}" 2>&1); then
	pass style_format_clean
else
	fail style_format_clean "$(echo "$out" | grep -c 'warning:') places drift ($(echo "$out" |
		grep -o '^[^:]*:[0-9]*' | head -n 3 | tr '\n' ' ')): run make format"
fi
