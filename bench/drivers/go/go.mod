module noxbench/drivers/go

go 1.24

require github.com/noxrunner/noxrunner/bindings/go v0.0.0

replace github.com/noxrunner/noxrunner/bindings/go => ../../../bindings/go
