#!/usr/bin/env python3
"""A tmux colour capture (`capture-pane -p -e`, as tools/tmux-drive.sh's `ansi:` step prints it)
as a PNG, for the README: each cell 8x16 pixels, half-blocks in their two colours, and any other
character as hatching in its colour (no font: the pictures are what it is for).

    python3 scripts/ansi-to-png.py assets/screens/learned-zca.ansi learned-zca.png
"""
import re, sys, zlib, struct
text = open(sys.argv[1], encoding='utf-8').read().split('\n')
CW, CH = 8, 16
DEF_FG, DEF_BG = (200, 200, 200), (20, 20, 20)
PAL = [(0,0,0),(205,49,49),(13,188,121),(229,229,16),(36,114,200),(188,63,188),(17,168,205),(229,229,229),
       (102,102,102),(241,76,76),(35,209,139),(245,245,67),(59,142,234),(214,112,214),(41,184,219),(255,255,255)]
rows = []
for line in text:
    fg, bg, cells, i = DEF_FG, DEF_BG, [], 0
    while i < len(line):
        m = re.match(r'\x1b\[([0-9;]*)m', line[i:])
        if m:
            ps = [int(p) if p else 0 for p in m.group(1).split(';')]
            j = 0
            while j < len(ps):
                p = ps[j]
                if p == 0: fg, bg = DEF_FG, DEF_BG
                elif p == 38 and ps[j+1] == 2: fg = tuple(ps[j+2:j+5]); j += 4
                elif p == 48 and ps[j+1] == 2: bg = tuple(ps[j+2:j+5]); j += 4
                elif p == 38 and ps[j+1] == 5: fg = PAL[ps[j+2]] if ps[j+2] < 16 else DEF_FG; j += 2
                elif p == 48 and ps[j+1] == 5: bg = PAL[ps[j+2]] if ps[j+2] < 16 else DEF_BG; j += 2
                elif 30 <= p <= 37: fg = PAL[p-30]
                elif 90 <= p <= 97: fg = PAL[p-90+8]
                elif 40 <= p <= 47: bg = PAL[p-40]
                elif 100 <= p <= 107: bg = PAL[p-100+8]
                elif p == 39: fg = DEF_FG
                elif p == 49: bg = DEF_BG
                j += 1
            i += m.end(); continue
        cells.append((line[i], fg, bg)); i += 1
    rows.append(cells)
W = max(len(r) for r in rows); H = len(rows)
img = [[DEF_BG] * (W * CW) for _ in range(H * CH)]
for y, r in enumerate(rows):
    for x, (c, fg, bg) in enumerate(r):
        for dy in range(CH):
            top = dy < CH // 2
            if c == '▀': col = fg if top else bg
            elif c == '▄': col = bg if top else fg
            elif c == '█': col = fg
            elif c == ' ': col = bg
            else: col = fg if (2 <= dy < 13 and (dy + x) % 3 == 0) else bg
            for dx in range(CW):
                img[y * CH + dy][x * CW + dx] = col
raw = b''.join(b'\x00' + bytes(v for px in row for v in px) for row in img)
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', W * CW, H * CH, 8, 2, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b'')
open(sys.argv[2], 'wb').write(png)
