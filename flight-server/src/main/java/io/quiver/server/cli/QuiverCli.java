package io.quiver.server.cli;

import io.quiver.server.QuiverNode;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code ./quiver}: every subcommand a user runs. */
@Command(name = "quiver", mixinStandardHelpOptions = true, versionProvider = QuiverCli.Version.class,
    description = "Quiver: a distributed Arrow Flight SQL query service.%n",
    subcommands = {StartCommand.class, StopCommand.class, NodeCommand.class, ClusterCommand.class, SqlCommand.class,
        BenchCommand.class, LoadTpchCommand.class,
        CommandLine.HelpCommand.class},
    footer = {"", "Examples:",
        "  ./quiver start                      start a node in the background on 127.0.0.1:31337",
        "  ./quiver sql \"SELECT 42\"             run one statement",
        "  ./quiver sql                        interactive prompt",
        "  ./quiver stop                       stop the node started by 'start'",
        "  ./quiver cluster start --nodes 3    a local 3-node cluster (Flight SQL of node-0 on 31337)",
        "  ./quiver bench stream               streaming throughput benchmark"})
public final class QuiverCli implements Runnable {
  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  public static void main(String[] args) {
    System.exit(commandLine().execute(args));
  }

  public static CommandLine commandLine() {
    CommandLine cl = new CommandLine(new QuiverCli());
    cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
      cmd.getErr().println("quiver: " + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()));
      return 1;
    });
    return cl;
  }

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      return new String[] {"Quiver " + QuiverNode.version()};
    }
  }
}
