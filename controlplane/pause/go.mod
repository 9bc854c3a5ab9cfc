module edgemark.io/pause

go 1.24
