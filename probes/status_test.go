package probes

import "testing"

func TestWorse(t *testing.T) {
	tests := []struct {
		a, b Status
		want bool
	}{
		{Critical, Warning, true},
		{Critical, Passing, true},
		{Warning, Passing, true},
		{Passing, Passing, false},
		{Warning, Critical, false},
		{Passing, Critical, false},
		{Critical, Critical, false},
		{Status("bogus"), Warning, true},
	}
	for _, tt := range tests {
		if got := tt.a.Worse(tt.b); got != tt.want {
			t.Errorf("%s.Worse(%s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestWorst(t *testing.T) {
	tests := []struct {
		name string
		in   []Status
		want Status
	}{
		{"empty", nil, Passing},
		{"all passing", []Status{Passing, Passing}, Passing},
		{"one warning", []Status{Passing, Warning, Passing}, Warning},
		{"critical wins", []Status{Warning, Critical, Passing}, Critical},
		{"unknown counts as critical", []Status{Passing, "bogus"}, Critical},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Worst(tt.in...); got != tt.want {
				t.Errorf("Worst(%v) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}
