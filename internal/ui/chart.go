package ui

import (
	"strconv"
	"time"

	"github.com/modvault/modvault/internal/index"
)

// chart is a bar chart of downloads per day, drawn as inline SVG by the
// version page: one bar per day, the oldest on the left.
type chart struct {
	Width, Height int
	Max           int64 // the most downloads on one day
	Total         int64
	Bars          []bar
}

// bar is one day of a chart.
type bar struct {
	X, Y, W, H int
	Day        string
	Count      int64
	Label      string // the bar's tooltip
}

// Geometry of a chart, in SVG user units.
const (
	barWidth    = 10
	barGap      = 2
	chartHeight = 60
)

// newChart returns the chart of days days from since (midnight UTC) with
// the counts of byDay.
func newChart(byDay []index.DayCount, since time.Time, days int) chart {
	counts := make(map[string]int64, len(byDay))
	c := chart{Width: days * (barWidth + barGap), Height: chartHeight}
	for _, d := range byDay {
		counts[d.Day.Format(time.DateOnly)] += d.Count
	}
	for i := range days {
		day := since.AddDate(0, 0, i).Format(time.DateOnly)
		c.Max = max(c.Max, counts[day])
		c.Total += counts[day]
	}
	for i := range days {
		day := since.AddDate(0, 0, i).Format(time.DateOnly)
		n := counts[day]
		h := 0
		if c.Max > 0 {
			h = int(n * (chartHeight - 1) / c.Max)
		}
		if n > 0 {
			h = max(h, 2)
		}
		c.Bars = append(c.Bars, bar{X: i * (barWidth + barGap), Y: chartHeight - h, W: barWidth, H: h,
			Day: day, Count: n, Label: day + ", downloads: " + strconv.FormatInt(n, 10)})
	}
	return c
}

// since returns the time days ago, at midnight UTC.
func since(now time.Time, days int) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d-days+1, 0, 0, 0, 0, time.UTC)
}
