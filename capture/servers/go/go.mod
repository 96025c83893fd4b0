module abortscope/goserver

go 1.19
