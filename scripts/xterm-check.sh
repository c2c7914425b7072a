#!/bin/bash
# The pictures in real terminals with graphics protocols, without a display: cifar-tui in xterm
# (VT340 mode: sixel) or kitty on a virtual X server, keys by xdotool, screenshots by xwd.
#
#   scripts/xterm-check.sh xterm|kitty BINARY DATA HISTORY OUT
#
# HISTORY must hold a finished run first in History's list. Writes OUT/TERMINAL-learned.png (`i`
# on its Results) and OUT/TERMINAL-cell.png (its most confused cell's images); the protocol
# chosen is in cifar-tui's log ("test images drawn with …"). Needs Debian's xvfb, xterm or kitty,
# xdotool, x11-apps and netpbm.
set -u
terminal=$1 bin=$2 data=$3 history=$4 out=$5
mkdir -p "$out"
export DISPLAY=:${XDISPLAY:-99}
Xvfb "$DISPLAY" -screen 0 1280x900x24 >/dev/null 2>&1 &
xvfb=$!
sleep 2
run="$bin --data $data --history $history; sleep 3"
case $terminal in
  # allowWindowOps: xterm answers the cell-size query only with it. Keys come through XTEST
  # (xdotool without --window): allowSendEvents would switch allowWindowOps off again.
  xterm) xterm -geometry 120x40+0+0 -fa Monospace -fs 10 -ti vt340 \
      -xrm 'XTerm*numColorRegisters: 256' -xrm 'XTerm*allowWindowOps: true' -e "$run" & ;;
  kitty) LIBGL_ALWAYS_SOFTWARE=1 kitty -o initial_window_width=1100 \
      -o initial_window_height=700 -o remember_window_size=no -o font_size=10 sh -c "$run" \
      >/dev/null 2>&1 & ;;
  *) echo "xterm or kitty" >&2; kill $xvfb; exit 2 ;;
esac
term=$!
sleep 8
xdotool mousemove 300 300
key() { xdotool key "$@"; sleep 1.5; }
shot() { xwd -root -silent | xwdtopnm 2>/dev/null | pnmtopng -compression 9 > "$out/$1.png"; }
key r; key Return; key Return; sleep 1
key i; sleep 2; shot "$terminal-learned"
key Escape; key Return; key Return; sleep 2; shot "$terminal-cell"
key Escape; key q; sleep 1
kill $term $xvfb 2>/dev/null
