package main

// helloBody is the backend's whole answer (harness.HelloHandler): small
// and fixed, so the benchmark measures the proxy hop rather than payload
// copying.
const helloBody = "hello from proxybench\n"
