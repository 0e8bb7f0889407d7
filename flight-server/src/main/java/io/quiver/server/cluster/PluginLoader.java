package io.quiver.server.cluster;

import io.quiver.catalog.engine.DuckDbEngine;
import io.quiver.catalog.plugin.QuiverPlugin;
import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.io.IOException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.concurrent.ConcurrentHashMap;
import java.util.zip.ZipFile;

/** {@code trex_db_load}: loads {@link QuiverPlugin}s from a jar and installs them on the database. */
public final class PluginLoader {
  private final DuckDbEngine engine;
  private final Map<String, Path> loaded = new ConcurrentHashMap<>();

  public PluginLoader(DuckDbEngine engine) {
    this.engine = engine;
  }

  public synchronized String load(String path) {
    if (path == null || path.isBlank()) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "trex_db_load needs the path of a plugin jar");
    }
    Path jar = Path.of(path).toAbsolutePath();
    if (!Files.isRegularFile(jar)) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "cannot load '%s': no such file", path);
    }
    try (ZipFile zip = new ZipFile(jar.toFile())) {
      if (zip.getEntry("META-INF/services/" + QuiverPlugin.class.getName()) == null) {
        throw QuiverException.user(ErrorCode.INVALID_ARGUMENT,
            "cannot load '%s': the jar declares no plugin (META-INF/services/%s is missing)", path,
            QuiverPlugin.class.getName());
      }
    } catch (IOException e) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "cannot load '%s': not a valid jar (%s)", path,
          e.getMessage());
    }
    List<QuiverPlugin> plugins = new ArrayList<>();
    try {
      URLClassLoader loader = new URLClassLoader(new URL[] {jar.toUri().toURL()}, QuiverPlugin.class.getClassLoader());
      for (QuiverPlugin p : ServiceLoader.load(QuiverPlugin.class, loader)) {
        plugins.add(p);
      }
    } catch (IOException | ServiceConfigurationError | LinkageError e) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "cannot load '%s': %s", path, e.getMessage());
    }
    List<String> names = new ArrayList<>();
    for (QuiverPlugin p : plugins) {
      if (loaded.containsKey(p.name())) {
        throw QuiverException.user(ErrorCode.ALREADY_EXISTS, "plugin '%s' is already loaded (from %s)", p.name(),
            loaded.get(p.name()));
      }
      engine.withRootConnection(p::install);
      loaded.put(p.name(), jar);
      names.add(p.name());
    }
    return "loaded plugin" + (names.size() == 1 ? " " : "s ") + String.join(", ", names) + " from " + jar;
  }
}
