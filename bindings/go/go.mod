module github.com/noxrunner/noxrunner/bindings/go

go 1.24
