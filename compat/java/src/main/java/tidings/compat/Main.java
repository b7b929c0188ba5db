package tidings.compat;

import com.microsoft.signalr.HubConnection;
import com.microsoft.signalr.HubConnectionBuilder;
import com.microsoft.signalr.TransportEnum;
import io.reactivex.rxjava3.core.Single;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/** The compat scenario (see compat/run.ts) with com.microsoft.signalr over args[0] transport and args[1] protocol. */
public final class Main {
  private static final Map<String, Object> result = new LinkedHashMap<>();

  private static void check(String name, boolean ok, String why) {
    result.put(name, ok ? Boolean.TRUE : why);
  }

  private static boolean waitFor(BooleanSupplier predicate, long millis) throws InterruptedException {
    long deadline = System.currentTimeMillis() + millis;
    while (System.currentTimeMillis() < deadline) {
      if (predicate.getAsBoolean()) return true;
      Thread.sleep(20);
    }
    return predicate.getAsBoolean();
  }

  private static String json(Object value) {
    return new com.google.gson.Gson().toJson(value);
  }

  @SuppressWarnings({"rawtypes", "unchecked"})
  public static void main(String[] args) throws Exception {
    String transport = args[0];
    Map<String, String> env = System.getenv();
    Map<String, String> ids = Map.of("replay", env.get("COMPAT_REPLAY_ID"), "global", env.get("COMPAT_GLOBAL_ID"), "user", env.get("COMPAT_USER_ID"), "group", env.get("COMPAT_GROUP_ID"));
    Map<String, Map> received = new ConcurrentHashMap<>();
    List<Map> reads = new CopyOnWriteArrayList<>();
    HubConnection hub = HubConnectionBuilder.create(env.get("COMPAT_HUB_URL"))
        .withAccessTokenProvider(Single.just(env.get("COMPAT_TOKEN")))
        .withTransport(transport.equals("LongPolling") ? TransportEnum.LONG_POLLING : TransportEnum.WEBSOCKETS)
        .build();
    hub.on(env.get("COMPAT_TYPE"), (Map n) -> received.put((String) n.get("id"), n), Map.class);
    hub.on("EventReadStatusChange", (Map e) -> reads.add(e), Map.class);
    try {
      hub.start().blockingAwait(15, TimeUnit.SECONDS);
      check("connect", true, "");
      waitFor(() -> received.containsKey(ids.get("replay")), 5000);
      check("replay", received.containsKey(ids.get("replay")), "not seen");
      try {
        hub.invoke("Subscribe", Map.of("audienceType", 3, "audienceValue", env.get("COMPAT_GROUP"))).blockingAwait(10, TimeUnit.SECONDS);
        check("subscribe", true, "");
      } catch (RuntimeException e) {
        check("subscribe", false, String.valueOf(e.getMessage()));
      }
      try {
        hub.invoke("Subscribe", Map.of("audienceType", 2, "audienceValue", env.get("COMPAT_FOREIGN_TENANT"))).blockingAwait(10, TimeUnit.SECONDS);
        check("forbidden", false, "Subscribe to a foreign tenant succeeded");
      } catch (RuntimeException e) {
        check("forbidden", String.valueOf(e.getMessage()).contains("HubException: Forbidden"), "error " + e.getMessage());
      }
      System.out.println("READY");
      System.out.flush();
      waitFor(() -> received.keySet().containsAll(List.of(ids.get("global"), ids.get("user"), ids.get("group"))), 10000);
      for (String n : List.of("global", "user", "group")) check(n, received.containsKey(ids.get(n)), "not seen");
      Map user = received.get(ids.get("user"));
      if (user != null) {
        String error = null;
        try {
          hub.invoke("MarkAsRead", user.get("audienceId"), user.get("id")).blockingAwait(10, TimeUnit.SECONDS);
        } catch (RuntimeException e) {
          error = e.getMessage();
        }
        boolean seen = waitFor(() -> reads.stream().anyMatch(e -> user.get("id").equals(e.get("eventId")) && Boolean.TRUE.equals(e.get("isRead"))), 5000);
        check("markAsRead", error == null && seen, "error " + error + ", EventReadStatusChange seen: " + seen);
      }
    } catch (RuntimeException e) {
      check("connect", false, e.toString());
    } finally {
      System.out.println("RESULT " + json(result));
      System.out.flush();
      try {
        hub.stop().blockingAwait(5, TimeUnit.SECONDS);
      } catch (RuntimeException ignored) {
        // the result is out; a failing stop changes nothing
      }
      System.exit(0);
    }
  }
}
