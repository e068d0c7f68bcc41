package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/alexedwards/scs/v2"
)

// compactMagic starts every compactly encoded session. A gob stream can
// never start with 0xC5: its first byte is a message length, either below
// 0x80 or a negated byte count from 0xF8 to 0xFF. So data without the
// prefix is gob from before the switch, and is still read.
var compactMagic = [2]byte{0xC5, 0x01}

// Value tags of the compact format.
const (
	tagString  byte = 1
	tagInt64   byte = 2
	tagInt     byte = 3
	tagFalse   byte = 4
	tagTrue    byte = 5
	tagStrings byte = 6
	tagFloat64 byte = 7
	tagBytes   byte = 8
	tagTime    byte = 9
)

// CompactCodec encodes a session as a small binary record: the deadline,
// then each value with a one-byte type tag. gob writes a type description
// for every interface value; for the shop's few small values that is most
// of the stored bytes and most of the time (see BenchmarkCodec). The types
// the shop keeps (string, int64, int, bool, []string, float64, []byte,
// time.Time) keep their exact Go type through a round trip, as scs's typed
// getters require. A session holding any other type is written with gob, so
// every session stays storable. Decode reads both.
type CompactCodec struct{}

var _ scs.Codec = CompactCodec{}

// Encode implements scs.Codec.
func (CompactCodec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(values))
	size := len(compactMagic) + 2*binary.MaxVarintLen64 + binary.MaxVarintLen32
	for k, v := range values {
		keys = append(keys, k)
		size += len(k) + 2 + binary.MaxVarintLen32
		switch v := v.(type) {
		case string, int64, int, bool, float64, time.Time:
			size += 2 * binary.MaxVarintLen64
			if s, ok := v.(string); ok {
				size += len(s)
			}
		case []byte:
			size += binary.MaxVarintLen32 + len(v)
		case []string:
			size += binary.MaxVarintLen32
			for _, s := range v {
				size += binary.MaxVarintLen32 + len(s)
			}
		default:
			// Not a type this format knows: gob knows every registered type.
			return scs.GobCodec{}.Encode(deadline, values)
		}
	}
	slices.Sort(keys) // the same values always encode to the same bytes
	b := make([]byte, 0, size)
	b = append(b, compactMagic[:]...)
	b = appendTime(b, deadline)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		switch v := values[k].(type) {
		case string:
			b = appendString(append(b, tagString), v)
		case int64:
			b = binary.AppendVarint(append(b, tagInt64), v)
		case int:
			b = binary.AppendVarint(append(b, tagInt), int64(v))
		case bool:
			if v {
				b = append(b, tagTrue)
			} else {
				b = append(b, tagFalse)
			}
		case []string:
			b = binary.AppendUvarint(append(b, tagStrings), uint64(len(v)))
			for _, s := range v {
				b = appendString(b, s)
			}
		case float64:
			b = binary.LittleEndian.AppendUint64(append(b, tagFloat64), math.Float64bits(v))
		case []byte:
			b = binary.AppendUvarint(append(b, tagBytes), uint64(len(v)))
			b = append(b, v...)
		case time.Time:
			b = appendTime(append(b, tagTime), v)
		}
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// appendTime writes Unix seconds and nanoseconds; the location is not kept
// (decoded times are UTC), which scs's deadline comparisons do not need.
func appendTime(b []byte, t time.Time) []byte {
	return binary.AppendUvarint(binary.AppendVarint(b, t.Unix()), uint64(t.Nanosecond()))
}

// errCompact reports data that starts like a compact session but is not one.
var errCompact = errors.New("session codec: corrupt compact session data")

// Decode implements scs.Codec. Data without the compact prefix is gob.
func (CompactCodec) Decode(b []byte) (time.Time, map[string]any, error) {
	if len(b) < len(compactMagic) || [2]byte(b[:2]) != compactMagic {
		return scs.GobCodec{}.Decode(b)
	}
	r := reader{b: b[len(compactMagic):]}
	deadline := r.time()
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		return time.Time{}, nil, errCompact
	}
	values := make(map[string]any, n)
	for range n {
		k := r.string()
		switch tag := r.byte(); tag {
		case tagString:
			values[k] = r.string()
		case tagInt64:
			values[k] = r.varint()
		case tagInt:
			values[k] = int(r.varint())
		case tagFalse:
			values[k] = false
		case tagTrue:
			values[k] = true
		case tagStrings:
			m := r.uvarint()
			if m > uint64(len(r.b)) {
				return time.Time{}, nil, errCompact
			}
			list := make([]string, m)
			for i := range list {
				list[i] = r.string()
			}
			values[k] = list
		case tagFloat64:
			values[k] = math.Float64frombits(binary.LittleEndian.Uint64(r.next(8)))
		case tagBytes:
			m := r.uvarint()
			if m > uint64(len(r.b)) {
				return time.Time{}, nil, errCompact
			}
			values[k] = slices.Clone(r.next(int(m)))
		case tagTime:
			values[k] = r.time()
		default:
			if r.err == nil {
				r.err = fmt.Errorf("session codec: unknown value tag %d", tag)
			}
		}
		if r.err != nil {
			return time.Time{}, nil, fmt.Errorf("%w: %w", errCompact, r.err)
		}
	}
	if len(r.b) != 0 {
		return time.Time{}, nil, errCompact
	}
	return deadline, values, nil
}

// reader takes values off a compact record; the first problem sticks in err
// and every later read returns zero values.
type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("data too short")

func (r *reader) next(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		if r.err == nil {
			r.err = errShort
		}
		return make([]byte, max(n, 8))
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) byte() byte { return r.next(1)[0] }

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		if r.err == nil {
			r.err = errShort
		}
		return ""
	}
	return string(r.next(int(n)))
}

func (r *reader) time() time.Time {
	sec := r.varint()
	nsec := r.uvarint()
	if r.err != nil || nsec >= 1e9 {
		if r.err == nil {
			r.err = errors.New("bad time")
		}
		return time.Time{}
	}
	if sec == zeroUnix && nsec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// zeroUnix is time.Time{}.Unix(): the zero deadline decodes to the zero time.
var zeroUnix = time.Time{}.Unix()
