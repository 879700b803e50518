package main

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// safeText returns s with every character a terminal could act on shown
// escaped, so a member name, tag, check output or error from the agent
// prints as one visible line: a newline as \n, a carriage return as \r, a
// tab as \t, other C0 controls and DEL as \xNN (ESC is \x1b), C1 controls
// and other unprintable characters (format characters such as
// bidirectional overrides, spaces other than the ASCII space) as \uNNNN
// or \UNNNNNNNN, and a byte that is not UTF-8 as \xNN. Printable text,
// including non-ASCII letters, is left as it is.
func safeText(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.IsPrint(r):
			b.WriteRune(r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
		i += size
	}
	return b.String()
}

// safeJSON returns a JSON document with the characters encoding/json
// leaves raw in strings but a terminal could act on (C1 controls such as
// CSI U+009B, bidirectional overrides and other unprintable characters)
// written as \uNNNN escapes, and bytes that are not UTF-8 as \ufffd. Every
// byte of such a character is above 0x7f, so it can only be inside a
// string, where the escape means the same character.
func safeJSON(doc []byte) []byte {
	clean := true
	for i := 0; i < len(doc); {
		if doc[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(doc[i:])
		if (r == utf8.RuneError && size <= 1) || !unicode.IsPrint(r) {
			clean = false
			break
		}
		i += size
	}
	if clean {
		return doc
	}
	var b bytes.Buffer
	for i := 0; i < len(doc); {
		if doc[i] < utf8.RuneSelf {
			b.WriteByte(doc[i])
			i++
			continue
		}
		r, size := utf8.DecodeRune(doc[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteString(`\ufffd`)
		case unicode.IsPrint(r):
			b.Write(doc[i : i+size])
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			r1, r2 := utf16Pair(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
		}
		i += size
	}
	return b.Bytes()
}

// utf16Pair returns the UTF-16 surrogate pair of r, above U+FFFF.
func utf16Pair(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}
