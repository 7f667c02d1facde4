package mfa

import (
	"fmt"

	"rsc.io/qr"
)

// qrScale is the size of one QR module in pixels; rsc.io/qr adds the
// quiet zone of four modules that ISO/IEC 18004 asks for.
const qrScale = 6

// qrPNG renders text as a QR code (error correction level M) in a 1-bit
// grayscale PNG.
func qrPNG(text string) ([]byte, error) {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return nil, fmt.Errorf("mfa: encoding qr code: %w", err)
	}
	code.Scale = qrScale
	return code.PNG(), nil
}
