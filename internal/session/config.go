package session

import (
	"github.com/the-shop/shop/internal/config"
)

// OptionsFrom turns the shop's configuration into Options. obs may be nil.
// Sessions are encoded with CompactCodec, sealed with AES-GCM when
// SESSION_ENCRYPTION_KEYS is set.
func OptionsFrom(cfg config.Config, obs Observer) (Options, error) {
	o := Options{
		Kind:             cfg.SessionStore,
		CookieName:       cfg.SessionCookieName,
		CookieSecure:     cfg.SessionCookieSecure,
		IdleTimeout:      cfg.SessionIdleTimeout,
		Lifetime:         cfg.SessionLifetime,
		RememberLifetime: cfg.SessionRememberLifetime,
		TouchInterval:    cfg.SessionTouchInterval,
		Replica:          cfg.ReplicaName,
		Observer:         obs,
	}
	if len(cfg.SessionEncryptionKeys) > 0 {
		sealer, err := NewSealer(cfg.SessionEncryptionKeys, cfg.SessionEncryptionMigrating)
		if err != nil {
			return Options{}, err
		}
		o.Sealer = sealer
	}
	return o, nil
}
