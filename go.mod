module github.com/identsphere/mfa

go 1.26.8

require (
	github.com/pquerna/otp v1.5.0
	github.com/stretchr/testify v1.12.1
	rsc.io/qr v0.2.0
)

require (
	github.com/boombuler/barcode v1.0.1-0.20190219062509-6c824513bacc // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
