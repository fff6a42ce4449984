package main

// helloBody is the backend's whole answer (harness.HelloHandler, as
// proxybench's): small and fixed, so the benchmark measures the gateway's
// work rather than payload copying.
const helloBody = "hello from accessbench\n"
