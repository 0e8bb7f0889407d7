/**
 * The push-based exchange between data nodes. A {@link io.quiver.shuffle.ShuffleWriter} runs on
 * every producing node: it splits the Arrow batches of its input by a {@link
 * io.quiver.shuffle.Partitioner} and streams each target's rows to that target over a Flight
 * {@code DoPut}, waiting while the target's gRPC stream is not ready (backpressure). On every
 * target node, {@link io.quiver.shuffle.ShuffleBuffers} keeps what arrives per {@link
 * io.quiver.shuffle.ShuffleId} and target, in memory up to a budget and spilled to Arrow IPC files
 * beyond it, and a {@link io.quiver.shuffle.ShuffleReader} hands it to the next fragment as an
 * Arrow stream once every sender has finished.
 */
package io.quiver.shuffle;
