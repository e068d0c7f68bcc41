package session

import "strings"

// Device names the browser and system in a User-Agent header well enough
// for a person to recognise their own sessions ("Firefox on Linux"). It is
// a guess from well-known tokens, not a full parser.
func Device(userAgent string) string {
	ua := strings.ToLower(userAgent)
	if ua == "" {
		return "Unknown device"
	}
	browser := "Unknown browser"
	for _, b := range []struct{ token, name string }{
		{"edg/", "Edge"}, {"opr/", "Opera"}, {"firefox/", "Firefox"}, {"chromium/", "Chromium"},
		{"headlesschrome/", "Headless Chrome"}, {"chrome/", "Chrome"}, {"safari/", "Safari"},
		{"curl/", "curl"}, {"go-http-client", "Go HTTP client"}, {"python-requests", "Python requests"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, s := range []struct{ token, name string }{
		{"android", "Android"}, {"iphone", "iPhone"}, {"ipad", "iPad"}, {"mac os x", "macOS"},
		{"windows", "Windows"}, {"cros", "ChromeOS"}, {"linux", "Linux"},
	} {
		if strings.Contains(ua, s.token) {
			system = s.name
			break
		}
	}
	if system == "" {
		return browser
	}
	return browser + " on " + system
}
