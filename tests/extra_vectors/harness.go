// harness: reads JSON requests (one per line) and answers with what the
// reference code does with them.
package main

import (
	"bufio"
	"encoding/binary"
	"math"
	"unicode/utf8"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"dappco.re/go/core/p2p/node"
	"dappco.re/go/core/p2p/node/levin"
	"forge.lthn.ai/Snider/Borg/pkg/smsg"
	"forge.lthn.ai/Snider/Borg/pkg/tim"
)

type req struct {
	Op       string `json:"op"`
	Text     string `json:"text"`
	Hex      string `json:"hex"`
	Password string `json:"password"`
}

func errs(err error) any {
	if err == nil {
		return nil
	}
	return err.Error()
}

func typedValue(v levin.Value) map[string]any {
	names := map[uint8]string{1: "int64", 2: "int32", 3: "int16", 4: "int8", 5: "uint64", 6: "uint32",
		7: "uint16", 8: "uint8", 9: "double", 10: "string", 11: "bool", 12: "object"}
	out := map[string]any{"tag": v.Type}
	str := func(b []byte) map[string]any {
		m := map[string]any{"hex": hex.EncodeToString(b)}
		if utf8.Valid(b) {
			m["utf8"] = string(b)
		}
		return m
	}
	if v.Type&levin.ArrayFlag != 0 {
		out["type"] = "array_" + names[v.Type&^levin.ArrayFlag]
		switch v.Type &^ levin.ArrayFlag {
		case levin.TypeUint64:
			a, _ := v.AsUint64Array()
			out["value"] = a
		case levin.TypeUint32:
			a, _ := v.AsUint32Array()
			out["value"] = a
		case levin.TypeString:
			a, _ := v.AsStringArray()
			l := []any{}
			for _, b := range a {
				l = append(l, str(b))
			}
			out["value"] = l
		case levin.TypeObject:
			a, _ := v.AsSectionArray()
			l := []any{}
			for _, s := range a {
				l = append(l, typed(s))
			}
			out["value"] = l
		}
		return out
	}
	out["type"] = names[v.Type]
	switch v.Type {
	case levin.TypeInt64:
		x, _ := v.AsInt64()
		out["value"] = x
	case levin.TypeInt32:
		x, _ := v.AsInt32()
		out["value"] = x
	case levin.TypeInt16:
		x, _ := v.AsInt16()
		out["value"] = x
	case levin.TypeInt8:
		x, _ := v.AsInt8()
		out["value"] = x
	case levin.TypeUint64:
		x, _ := v.AsUint64()
		out["value"] = x
	case levin.TypeUint32:
		x, _ := v.AsUint32()
		out["value"] = x
	case levin.TypeUint16:
		x, _ := v.AsUint16()
		out["value"] = x
	case levin.TypeUint8:
		x, _ := v.AsUint8()
		out["value"] = x
	case levin.TypeBool:
		x, _ := v.AsBool()
		out["value"] = x
	case levin.TypeDouble:
		x, _ := v.AsDouble()
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], math.Float64bits(x))
		out["bits_hex"] = hex.EncodeToString(b[:])
		if !math.IsInf(x, 0) && !math.IsNaN(x) {
			out["value"] = x
		}
	case levin.TypeString:
		x, _ := v.AsString()
		for k, val := range str(x) {
			out[k] = val
		}
	case levin.TypeObject:
		x, _ := v.AsSection()
		out["value"] = typed(x)
	}
	return out
}

func typed(s levin.Section) map[string]any {
	out := map[string]any{}
	for k, v := range s {
		out[k] = typedValue(v)
	}
	return out
}

func main() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 64<<20), 64<<20)
	out := json.NewEncoder(os.Stdout)
	out.SetEscapeHTML(false)
	for sc.Scan() {
		var r req
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		res := map[string]any{"op": r.Op}
		func() {
			defer func() {
				if p := recover(); p != nil {
					res["panic"] = fmt.Sprint(p)
				}
			}()
			switch r.Op {
			case "envelope":
				var m node.Message
				err := json.Unmarshal([]byte(r.Text), &m)
				res["error"] = errs(err)
				if err == nil {
					b, _ := node.MarshalJSON(&m)
					res["mesh"] = string(b)
					b2, _ := json.Marshal(&m)
					res["marshal"] = string(b2)
				}
			case "smsg_plain":
				var m smsg.Message
				err := json.Unmarshal([]byte(r.Text), &m)
				res["error"] = errs(err)
				if err == nil {
					res["body"] = m.Body
				}
			case "stim_open":
				data, _ := hex.DecodeString(r.Hex)
				t, err := tim.FromSigil(data, r.Password)
				res["error"] = errs(err)
				if err == nil {
					res["config"] = string(t.Config)
				}
			case "open_frame":
				data, _ := hex.DecodeString(r.Hex)
				m, err := smsg.Decrypt(data, r.Password)
				if err != nil {
					res["stage"] = "smsg"
					res["error"] = err.Error()
					break
				}
				var msg node.Message
				if err := json.Unmarshal([]byte(m.Body), &msg); err != nil {
					res["stage"] = "message"
					res["error"] = err.Error()
					break
				}
				b, _ := node.MarshalJSON(&msg)
				res["mesh"] = string(b)
			case "storage_decode":
				data, _ := hex.DecodeString(r.Hex)
				s, err := levin.DecodeStorage(data)
				res["error"] = errs(err)
				if err == nil {
					res["section"] = typed(s)
					b, err := levin.EncodeStorage(s)
					res["reencode_error"] = errs(err)
					res["reencoded"] = hex.EncodeToString(b)
				}
			case "storage_empty_name":
				s := levin.Section{"": levin.Uint8Val(7), "a": levin.ObjectVal(levin.Section{"": levin.StringVal([]byte("x"))})}
				b, err := levin.EncodeStorage(s)
				res["error"] = errs(err)
				res["hex"] = hex.EncodeToString(b)
			default:
				res["error"] = "unknown op"
			}
		}()
		out.Encode(res)
	}
}
