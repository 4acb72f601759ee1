using System.Diagnostics;
using System.Globalization;
using Detektor.Core.Lifecycle;
using Detektor.StoreBench;
using Detektor.Storage.Abstractions;
using Detektor.Storage.Postgres;
using Detektor.Storage.Sqlite;
using Detektor.Testing;
using Microsoft.Data.Sqlite;
using Npgsql;
using NpgsqlTypes;

// Event store measurements (docs/performance.md, "Event store"). Every figure is measured in this process with a
// Stopwatch around the real operation; nothing is extrapolated.
//   ingest  — lifecycle events/s through IEventStore.WriteAsync vs a raw binary COPY (PostgreSQL) or one prepared-INSERT
//             transaction (SQLite) of the same rows into the same tables, alternating, several rounds.
//   lookup  — journey lookups (GetJourneyAsync) at a given number of stored events: p50/p99/max.
var command = args.Length > 0 ? args[0] : "help";
var options = Options.Parse(args.Skip(1).ToArray());
switch (command)
{
    case "ingest":
        await Ingest.RunAsync(options);
        break;
    case "lookup":
        await Lookup.RunAsync(options);
        break;
    default:
        Console.WriteLine("""
            usage: dotnet run -c Release --project bench/Detektor.StoreBench -- <ingest|lookup> [options]
              --events N       events to write (ingest default 1000000, lookup default 10000000)
              --batch N[,N]    store batch sizes to measure (ingest, default 1000,5000)
              --rounds N       rounds, alternating raw and store (ingest, default 3)
              --lookups N      journey lookups to time (lookup, default 20000)
              --store S        postgres, sqlite or both (default both)
              --postgres CS    use this server instead of starting a throwaway durable cluster
              --dir PATH       where SQLite files go (default: the system temp folder)
              --sqlite-cache MB  the SQLite writer's page cache (Detektor:Storage:SqliteCacheMegabytes, default 32)
              --sqlite-mmap MB   the SQLite read mapping (Detektor:Storage:SqliteMmapMegabytes, default 0)
            """);
        break;
}

namespace Detektor.StoreBench
{
    internal sealed record Options(long Events, int[] Batches, int Rounds, int Lookups, string Store, string? Postgres, string Dir, bool EventsGiven, SqliteStoreSettings Sqlite)
    {
        public static Options Parse(string[] args)
        {
            string? Get(string name)
            {
                var i = Array.IndexOf(args, name);
                return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
            }

            return new Options(
                long.Parse(Get("--events") ?? "0", CultureInfo.InvariantCulture),
                (Get("--batch") ?? "1000,5000").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray(),
                int.Parse(Get("--rounds") ?? "3", CultureInfo.InvariantCulture),
                int.Parse(Get("--lookups") ?? "20000", CultureInfo.InvariantCulture),
                Get("--store") ?? "both",
                Get("--postgres"),
                Get("--dir") ?? Path.GetTempPath(),
                Get("--events") is not null,
                new SqliteStoreSettings
                {
                    CacheMegabytes = int.Parse(Get("--sqlite-cache") ?? "32", CultureInfo.InvariantCulture),
                    MmapMegabytes = int.Parse(Get("--sqlite-mmap") ?? "0", CultureInfo.InvariantCulture),
                });
        }

        public long EventsOr(long fallback) => EventsGiven ? Events : fallback;
    }

    /// <summary>A throwaway durable PostgreSQL (default settings, fsync on) unless --postgres names one.</summary>
    internal sealed class Server : IAsyncDisposable
    {
        private readonly PostgresServer? _own;
        private readonly string _admin;

        private Server(PostgresServer? own, string admin)
        {
            _own = own;
            _admin = admin;
        }

        public static async Task<Server> StartAsync(Options options)
        {
            if (options.Postgres is not null)
            {
                return new Server(null, options.Postgres);
            }

            var own = await PostgresServer.StartAsync(durable: true);
            Console.WriteLine($"# throwaway PostgreSQL on port {own.Port} (default settings: fsync on, synchronous_commit on, shared_buffers 128MB)");
            return new Server(own, own.ConnectionString());
        }

        public async Task<string> CreateDatabaseAsync(string name)
        {
            await using var connection = new NpgsqlConnection(_admin);
            await connection.OpenAsync();
            await using (var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", connection))
            {
                await drop.ExecuteNonQueryAsync();
            }

            await using (var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection))
            {
                await create.ExecuteNonQueryAsync();
            }

            return new NpgsqlConnectionStringBuilder(_admin) { Database = name, Pooling = true }.ConnectionString;
        }

        public async ValueTask DisposeAsync()
        {
            if (_own is not null)
            {
                await _own.DisposeAsync();
            }
        }
    }

    internal static class Ingest
    {
        public static async Task RunAsync(Options options)
        {
            var total = options.EventsOr(1_000_000);
            Console.WriteLine($"# generating {total:N0} lifecycle events (4 cameras at 10 fps, 6 events per frame, in time order)");
            var events = Workload.Events(total, DateTimeOffset.UtcNow.AddHours(-2)).ToList();
            var days = events.Select(e => DateOnly.FromDateTime(e.FrameId.Timestamp.UtcDateTime)).Distinct().ToList();
            Console.WriteLine($"# {Environment.ProcessorCount} cores; .NET {Environment.Version}");
            if (options.Store is "postgres" or "both")
            {
                await PostgresAsync(options, events, days);
            }

            if (options.Store is "sqlite" or "both")
            {
                await SqliteAsync(options, events);
            }
        }

        private static async Task PostgresAsync(Options options, List<FrameEvent> events, List<DateOnly> days)
        {
            await using var server = await Server.StartAsync(options);
            var raw = new List<double>();
            var store = options.Batches.ToDictionary(b => b, _ => new List<double>());
            for (var round = 0; round < options.Rounds; round++)
            {
                // Alternate which goes first, so neither always meets a warmer (or more bloated) server.
                var order = round % 2 == 0 ? options.Batches.Prepend(0) : options.Batches.Append(0);
                foreach (var batch in order)
                {
                    // A database per round: dropping and re-creating one name would hand out pooled connections the drop terminated.
                    var db = await server.CreateDatabaseAsync(batch == 0 ? $"bench_raw_{round}" : $"bench_store_{batch}_{round}");
                    await using var sut = new PostgresEventStore(db);
                    await sut.MigrateAsync();
                    await CreatePartitionsAsync(db, days);
                    var seconds = batch == 0 ? await RawCopyAsync(db, events) : await StoreAsync(sut, events, batch);
                    var rate = events.Count / seconds;
                    (batch == 0 ? raw : store[batch]).Add(rate);
                    Console.WriteLine($"round {round + 1}: {(batch == 0 ? "raw COPY" : $"store batch {batch}"),-18} {rate,12:N0} events/s ({seconds:0.00} s)");
                }
            }

            var rawMedian = Median(raw);
            Console.WriteLine($"PostgreSQL raw binary COPY (one COPY, same rows, same table): median {rawMedian:N0} events/s");
            foreach (var (batch, rates) in store)
            {
                Console.WriteLine($"PostgreSQL IEventStore.WriteAsync, batches of {batch}: median {Median(rates):N0} events/s = {Median(rates) / rawMedian:0.00} x raw COPY");
            }
        }

        private static async Task SqliteAsync(Options options, List<FrameEvent> events)
        {
            var raw = new List<double>();
            var store = options.Batches.ToDictionary(b => b, _ => new List<double>());
            for (var round = 0; round < options.Rounds; round++)
            {
                var order = round % 2 == 0 ? options.Batches.Prepend(0) : options.Batches.Append(0);
                foreach (var batch in order)
                {
                    var path = Path.Combine(options.Dir, $"detektor-bench-{Guid.NewGuid():N}.db");
                    try
                    {
                        using var sut = new SqliteEventStore(path, settings: options.Sqlite);
                        await sut.MigrateAsync();
                        var seconds = batch == 0 ? RawSqliteInsert(path, events) : await StoreAsync(sut, events, batch);
                        var rate = events.Count / seconds;
                        (batch == 0 ? raw : store[batch]).Add(rate);
                        Console.WriteLine($"round {round + 1}: SQLite {(batch == 0 ? "raw INSERT tx" : $"store batch {batch}"),-18} {rate,12:N0} events/s ({seconds:0.00} s)");
                    }
                    finally
                    {
                        SqliteConnection.ClearAllPools();
                        foreach (var f in Directory.GetFiles(Path.GetDirectoryName(path)!, Path.GetFileName(path) + "*"))
                        {
                            File.Delete(f);
                        }
                    }
                }
            }

            var rawMedian = Median(raw);
            Console.WriteLine($"SQLite raw prepared INSERTs (one transaction, same rows, same table): median {rawMedian:N0} events/s");
            foreach (var (batch, rates) in store)
            {
                Console.WriteLine($"SQLite IEventStore.WriteAsync, batches of {batch}: median {Median(rates):N0} events/s = {Median(rates) / rawMedian:0.00} x raw");
            }
        }

        private static async Task<double> StoreAsync(IEventStore store, List<FrameEvent> events, int batch)
        {
            var sw = Stopwatch.StartNew();
            for (var i = 0; i < events.Count; i += batch)
            {
                await store.WriteAsync(new StoreBatch(events.GetRange(i, Math.Min(batch, events.Count - i)), []));
            }

            return sw.Elapsed.TotalSeconds;
        }

        private static async Task CreatePartitionsAsync(string db, List<DateOnly> days)
        {
            await using var connection = new NpgsqlConnection(db);
            await connection.OpenAsync();
            foreach (var day in days)
            {
                await using var command = new NpgsqlCommand(
                    string.Create(CultureInfo.InvariantCulture, $"CREATE TABLE IF NOT EXISTS frame_events_p{day:yyyyMMdd} PARTITION OF frame_events FOR VALUES FROM ('{day:yyyy-MM-dd}') TO ('{day.AddDays(1):yyyy-MM-dd}')"),
                    connection);
                await command.ExecuteNonQueryAsync();
            }
        }

        /// <summary>The baseline: the same rows, the same columns and table, one binary COPY, nothing else.</summary>
        private static async Task<double> RawCopyAsync(string db, List<FrameEvent> events)
        {
            await using var connection = new NpgsqlConnection(db);
            await connection.OpenAsync();
            var sw = Stopwatch.StartNew();
            await using (var importer = await connection.BeginBinaryImportAsync(
                "COPY frame_events (event_id, frame_id, camera_id, type, time, stage, service, trace_id, span_id, duration_us, reason, data, frame_time) FROM STDIN (FORMAT BINARY)"))
            {
                foreach (var e in events)
                {
                    await importer.StartRowAsync();
                    await importer.WriteAsync(e.EventId, NpgsqlDbType.Uuid);
                    await importer.WriteAsync(e.FrameId.ToString(), NpgsqlDbType.Text);
                    await importer.WriteAsync(e.CameraId, NpgsqlDbType.Text);
                    await importer.WriteAsync(e.Type.ToWireName(), NpgsqlDbType.Text);
                    await importer.WriteAsync(e.Timestamp.UtcDateTime, NpgsqlDbType.TimestampTz);
                    await importer.WriteAsync(e.Stage, NpgsqlDbType.Text);
                    await importer.WriteAsync(e.Service, NpgsqlDbType.Text);
                    await importer.WriteAsync(PostgresEventStore.TraceIdToGuid(e.TraceId), NpgsqlDbType.Uuid);
                    await importer.WriteAsync(PostgresEventStore.SpanIdToLong(e.SpanId), NpgsqlDbType.Bigint);
                    if (e.Duration is { } d)
                    {
                        await importer.WriteAsync(d.Ticks / TimeSpan.TicksPerMicrosecond, NpgsqlDbType.Bigint);
                    }
                    else
                    {
                        await importer.WriteNullAsync();
                    }

                    await importer.WriteNullAsync();
                    if (e.Data is null)
                    {
                        await importer.WriteNullAsync();
                    }
                    else
                    {
                        await importer.WriteAsync(e.Data, NpgsqlDbType.Json);
                    }

                    await importer.WriteAsync(e.FrameId.Timestamp.UtcDateTime, NpgsqlDbType.TimestampTz);
                }

                await importer.CompleteAsync();
            }

            return sw.Elapsed.TotalSeconds;
        }

        private static double RawSqliteInsert(string path, List<FrameEvent> events)
        {
            using var connection = new SqliteConnection($"Data Source={path}");
            connection.Open();
            using (var pragma = connection.CreateCommand())
            {
                pragma.CommandText = "PRAGMA synchronous = NORMAL;";
                pragma.ExecuteNonQuery();
            }

            var sw = Stopwatch.StartNew();
            using var tx = connection.BeginTransaction();
            using var insert = connection.CreateCommand();
            insert.Transaction = tx;
            insert.CommandText = "INSERT INTO frame_events (event_id, frame_id, camera_id, type, time_us, stage, service, trace_id, span_id, duration_us, reason, data) VALUES ($a,$b,$c,$d,$e,$f,$g,$h,$i,$j,$k,$l)";
            var names = new[] { "$a", "$b", "$c", "$d", "$e", "$f", "$g", "$h", "$i", "$j", "$k", "$l" };
            foreach (var n in names)
            {
                insert.Parameters.Add(new SqliteParameter(n, null));
            }

            insert.Prepare();
            foreach (var e in events)
            {
                var p = insert.Parameters;
                p[0].Value = e.EventId.ToString("D");
                p[1].Value = e.FrameId.ToString();
                p[2].Value = e.CameraId;
                p[3].Value = e.Type.ToWireName();
                p[4].Value = FrameTimes.ToMicros(e.Timestamp);
                p[5].Value = e.Stage;
                p[6].Value = e.Service;
                p[7].Value = e.TraceId.ToHexString();
                p[8].Value = e.SpanId.ToHexString();
                p[9].Value = e.Duration is { } d ? d.Ticks / TimeSpan.TicksPerMicrosecond : DBNull.Value;
                p[10].Value = DBNull.Value;
                p[11].Value = (object?)e.Data ?? DBNull.Value;
                insert.ExecuteNonQuery();
            }

            tx.Commit();
            return sw.Elapsed.TotalSeconds;
        }

        internal static double Median(List<double> values)
        {
            var sorted = values.Order().ToList();
            return sorted.Count == 0 ? double.NaN : sorted[sorted.Count / 2];
        }
    }

    internal static class Lookup
    {
        public static async Task RunAsync(Options options)
        {
            var total = options.EventsOr(10_000_000);
            Console.WriteLine($"# {Environment.ProcessorCount} cores; .NET {Environment.Version}; {total:N0} events, {options.Lookups:N0} timed journey lookups");
            if (options.Store is "postgres" or "both")
            {
                await using var server = await Server.StartAsync(options);
                var db = await server.CreateDatabaseAsync("bench_lookup");
                await using var store = new PostgresEventStore(db);
                await store.MigrateAsync();
                var sample = await LoadAsync(store, total);
                await using (var connection = new NpgsqlConnection(db))
                {
                    await connection.OpenAsync();
                    await using var analyze = new NpgsqlCommand("VACUUM ANALYZE", connection);
                    await analyze.ExecuteNonQueryAsync();
                    await using var size = new NpgsqlCommand("SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'frame_events'::regclass", connection);
                    Console.WriteLine($"PostgreSQL frame_events with indexes: {await size.ExecuteScalarAsync()}");
                }

                await TimeAsync("PostgreSQL", store, sample, options.Lookups);
                await ServerTimeAsync(db, sample, Math.Min(options.Lookups, 5000));
            }

            if (options.Store is "sqlite" or "both")
            {
                var path = Path.Combine(options.Dir, $"detektor-bench-lookup-{Guid.NewGuid():N}.db");
                try
                {
                    using var store = new SqliteEventStore(path, settings: options.Sqlite);
                    await store.MigrateAsync();
                    var sample = await LoadAsync(store, total);
                    Console.WriteLine($"SQLite file: {new FileInfo(path).Length / (1024.0 * 1024 * 1024):0.00} GiB");
                    await TimeAsync("SQLite", store, sample, options.Lookups);
                }
                finally
                {
                    SqliteConnection.ClearAllPools();
                    foreach (var f in Directory.GetFiles(Path.GetDirectoryName(path)!, Path.GetFileName(path) + "*"))
                    {
                        File.Delete(f);
                    }
                }
            }
        }

        private static async Task<List<string>> LoadAsync(IEventStore store, long total)
        {
            var sample = new List<string>();
            var sw = Stopwatch.StartNew();
            var batch = new List<FrameEvent>(5000);
            long written = 0;
            var frameNumber = 0L;
            // Two days of history ending now, so the store spans several daily partitions.
            foreach (var e in Workload.Events(total, DateTimeOffset.UtcNow.AddDays(-2)))
            {
                if (e.Type == FrameEventType.Captured && frameNumber++ % 50 == 0)
                {
                    sample.Add(e.FrameId.ToString());
                }

                batch.Add(e);
                if (batch.Count == 5000)
                {
                    await store.WriteAsync(new StoreBatch(batch, []));
                    written += batch.Count;
                    batch = new List<FrameEvent>(5000);
                    if (written % 1_000_000 == 0)
                    {
                        Console.WriteLine($"  {store.Provider}: {written:N0} events loaded ({written / sw.Elapsed.TotalSeconds:N0}/s)");
                    }
                }
            }

            if (batch.Count > 0)
            {
                await store.WriteAsync(new StoreBatch(batch, []));
            }

            Console.WriteLine($"{store.Provider}: loaded {total:N0} events in {sw.Elapsed.TotalSeconds:0} s");
            return sample;
        }

        /// <summary>
        /// The server's own execution time of the journey's event query (EXPLAIN ANALYZE), which the client's scheduling on a
        /// busy machine does not inflate.
        /// </summary>
        private static async Task ServerTimeAsync(string db, List<string> sample, int lookups)
        {
            var random = new Random(7);
            var times = new double[lookups];
            await using var connection = new NpgsqlConnection(db);
            await connection.OpenAsync();
            for (var i = 0; i < lookups; i++)
            {
                var id = Core.Frames.FrameId.Parse(sample[random.Next(sample.Count)]);
                await using var command = new NpgsqlCommand(
                    "EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM frame_events WHERE camera_id = $1 AND frame_id = $2 AND frame_time = $3", connection);
                command.Parameters.AddWithValue(id.CameraId);
                command.Parameters.AddWithValue(id.ToString());
                command.Parameters.AddWithValue(id.Timestamp);
                var plan = (string)(await command.ExecuteScalarAsync())!;
                using var doc = System.Text.Json.JsonDocument.Parse(plan);
                times[i] = doc.RootElement[0].GetProperty("Execution Time").GetDouble();
            }

            Array.Sort(times);
            double P(double q) => times[Math.Min(times.Length - 1, (int)(q * times.Length))];
            Console.WriteLine($"PostgreSQL server-side execution of the journey query (EXPLAIN ANALYZE, {lookups:N0} frames): p50 {P(0.50):0.000} ms, p99 {P(0.99):0.000} ms, max {times[^1]:0.000} ms");
        }

        private static async Task TimeAsync(string name, IEventStore store, List<string> sample, int lookups)
        {
            var random = new Random(42);
            for (var i = 0; i < 1000; i++)
            {
                await store.GetJourneyAsync(sample[random.Next(sample.Count)]); // warm-up, not timed
            }

            var times = new double[lookups];
            var missing = 0;
            for (var i = 0; i < lookups; i++)
            {
                var id = sample[random.Next(sample.Count)];
                var start = Stopwatch.GetTimestamp();
                var journey = await store.GetJourneyAsync(id);
                times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                if (journey is null || journey.Events.Count != 6)
                {
                    missing++;
                }
            }

            Array.Sort(times);
            double P(double q) => times[Math.Min(times.Length - 1, (int)(q * times.Length))];
            Console.WriteLine($"{name} journey lookup over {lookups:N0} random frames: p50 {P(0.50):0.000} ms, p90 {P(0.90):0.000} ms, p99 {P(0.99):0.000} ms, max {times[^1]:0.000} ms (incomplete journeys: {missing})");
        }
    }
}
