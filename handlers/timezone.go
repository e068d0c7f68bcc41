package handlers

import (
	"time"
	// The zone database is embedded so that times show in the shopper's
	// zone on any host, even an image without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/labstack/echo/v4"
)

// zoneCookie holds the browser's IANA time zone ("Europe/Berlin"), set by
// static/js/shop.js so that pages can show times in the shopper's zone.
// Without it (no JavaScript yet, or none at all) times show in UTC.
const zoneCookie = "tz"

// shopperZone returns the time zone the browser reported, or "" (UTC) when
// it sent none or one this build does not know.
func shopperZone(c echo.Context) string {
	ck, err := c.Cookie(zoneCookie)
	if err != nil || ck.Value == "" || len(ck.Value) > 64 {
		return ""
	}
	if _, err := time.LoadLocation(ck.Value); err != nil || ck.Value == "Local" {
		return ""
	}
	return ck.Value
}
