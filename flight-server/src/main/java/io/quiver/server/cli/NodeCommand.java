package io.quiver.server.cli;

import io.quiver.server.NodeConfig;
import io.quiver.server.QuiverNode;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** Runs one node in the foreground until it is told to stop (SIGTERM / Ctrl-C). */
@Command(name = "node", mixinStandardHelpOptions = true,
    description = "Run one node in the foreground (coordinator and data roles) until SIGTERM or Ctrl-C.")
final class NodeCommand implements java.util.concurrent.Callable<Integer> {
  @Mixin
  NodeOptions options;

  @Override
  public Integer call() throws Exception {
    NodeConfig config = options.toConfig();
    QuiverNode node = new QuiverNode(config, options.toClusterOptions()).start();
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      node.close();
      System.out.println("Quiver node stopped: database closed cleanly");
      System.out.flush();
      stopped.countDown();
    }, "quiver-shutdown"));
    System.out.println("Quiver node ready: Flight SQL on grpc://" + config.host() + ":" + node.port());
    System.out.flush();
    stopped.await();
    return 0;
  }
}
