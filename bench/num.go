package bench

import (
	"math"
	"strconv"
)

// Num is a measured value: JSON and CSV show NaN (nothing measured) as
// null / empty and round to three decimals.
type Num float64

// MarshalJSON implements json.Marshaler.
func (n Num) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, math.Round(float64(n)*1000)/1000, 'f', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (n *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Num(math.NaN())
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	*n = Num(f)
	return err
}

// CSV returns the value for a CSV cell.
func (n Num) CSV() string {
	if math.IsNaN(float64(n)) {
		return ""
	}
	return strconv.FormatFloat(math.Round(float64(n)*1000)/1000, 'f', -1, 64)
}

// Fmt formats the value with the given decimals for a Markdown table;
// "–" when nothing was measured.
func (n Num) Fmt(decimals int) string {
	if math.IsNaN(float64(n)) {
		return "–"
	}
	return strconv.FormatFloat(float64(n), 'f', decimals, 64)
}

// OK reports whether the value was measured.
func (n Num) OK() bool { return !math.IsNaN(float64(n)) }

var nan = Num(math.NaN())
