// The driver every fuzz target shares: libFuzzer's runtime calls LLVMFuzzerTestOneInput, which
// hands each input to the target's function.
#include "CLibFuzzer.h"

static GraphRelayFuzzTarget registeredTarget;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return registeredTarget ? registeredTarget(data, size) : 0;
}

int graph_relay_fuzz_main(int argc, char **argv, GraphRelayFuzzTarget target) {
    registeredTarget = target;
    return LLVMFuzzerRunDriver(&argc, &argv, target);
}
