#ifndef GRAPH_RELAY_CLIBFUZZER_H
#define GRAPH_RELAY_CLIBFUZZER_H
#include <stddef.h>
#include <stdint.h>

/// A fuzz target: one input, 0 when it was handled (a crash or a failed precondition is a finding).
typedef int (*GraphRelayFuzzTarget)(const uint8_t *data, size_t size);

/// libFuzzer's driver (in the runtime that -sanitize=fuzzer links): parses the libFuzzer
/// command line and calls `callback` with each input.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

/// libFuzzer's entry point for one input, defined once here for every target.
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/// Runs libFuzzer with the process's command line on `target`; returns the exit status.
int graph_relay_fuzz_main(int argc, char **argv, GraphRelayFuzzTarget target);

#endif
