module bot-bottle.test/k8s-nettool

go 1.24.0
