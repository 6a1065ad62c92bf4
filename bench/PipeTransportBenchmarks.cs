using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using BenchmarkDotNet.Attributes;
using Pipelines.Sockets.Unofficial;

namespace Sandboxrun.Bench;

/// <summary>How the proxy's end of an agent connection is read and written.</summary>
public enum ServerTransport
{
    /// <summary>What the proxy uses: PipeReader.Create over a NetworkStream, writes with NetworkStream.WriteAsync.</summary>
    Framework,

    /// <summary>Pipelines.Sockets.Unofficial's SocketConnection.Create(socket), its defaults.</summary>
    Unofficial,

    /// <summary>SocketConnection with 64 KiB segments, 1 MiB pause threshold, InlineReads | InlineWrites.</summary>
    UnofficialTuned,
}

/// <summary>
/// The transport under the egress proxy's agent connections: the framework's pipe over a
/// NetworkStream (what EgressConnection uses) against Pipelines.Sockets.Unofficial's
/// SocketConnection. Each case has one real TCP connection over 127.0.0.1; its server end runs on
/// the thread pool the way EgressConnection.Serve does, through the transport under test, and the
/// client end is the benchmark thread with plain blocking Socket calls, the same for every
/// transport. <see cref="RoundTrip"/> is one kept-alive request: the client sends a 200-byte
/// request head, the server reads through the transport's PipeReader until the head's blank line,
/// advances past it and writes a 60-byte response through the transport, and the client reads the
/// response in full. <see cref="StreamPerMiB"/> streams 64 MiB from the client, which the server
/// reads and counts; its figures are per MiB. Allocations are the whole process's, so the server
/// side's are included.
/// </summary>
[MemoryDiagnoser]
public class PipeTransportBenchmarks
{
    private const int StreamBytes = 64 * 1024 * 1024;
    private const int StreamChunk = 64 * 1024;
    private const int MiB = 1024 * 1024;

    private static readonly byte[] Request = Head(200,
        "GET http://api.example.net/v1/models/m HTTP/1.1\r\nHost: api.example.net\r\nUser-Agent: bench/1.0\r\nAccept: */*\r\n");

    private static readonly byte[] Response = Head(60, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n");

    private readonly byte[] _responseBuffer = new byte[Response.Length];
    private readonly byte[] _chunk = new byte[StreamChunk];
    private readonly SemaphoreSlim _streamed = new(0);
    private Socket _client = null!;
    private ServerEnd _server = null!;
    private Task _serverLoop = Task.CompletedTask;

    [Params(ServerTransport.Framework, ServerTransport.Unofficial, ServerTransport.UnofficialTuned)]
    public ServerTransport Transport { get; set; }

    [GlobalSetup(Target = nameof(RoundTrip))]
    public void SetupRoundTrip()
    {
        Connect();
        ServerEnd server = _server;
        _serverLoop = Task.Run(() => AnswerRequests(server));
    }

    [GlobalSetup(Target = nameof(StreamPerMiB))]
    public void SetupStream()
    {
        Connect();
        ServerEnd server = _server;
        SemaphoreSlim streamed = _streamed;
        _serverLoop = Task.Run(() => CountBytes(server, streamed));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _client.Shutdown(SocketShutdown.Both);
        _client.Dispose();
        if (!_serverLoop.Wait(TimeSpan.FromSeconds(10)))
            throw new InvalidOperationException("the server loop did not end when the client closed");
        _server.Dispose();
        _streamed.Dispose();
    }

    /// <summary>One request head in, one small response out, on a kept-alive connection.</summary>
    [Benchmark]
    public int RoundTrip()
    {
        SendAll(_client, Request);
        int got = 0;
        while (got < _responseBuffer.Length)
        {
            int n = _client.Receive(_responseBuffer, got, _responseBuffer.Length - got, SocketFlags.None);
            if (n == 0)
                throw new InvalidOperationException("the server closed the connection");
            got += n;
        }
        return got;
    }

    /// <summary>64 MiB from client to server, counted by the server; reported per MiB.</summary>
    [Benchmark(OperationsPerInvoke = StreamBytes / MiB)]
    public void StreamPerMiB()
    {
        for (int sent = 0; sent < StreamBytes; sent += StreamChunk)
            SendAll(_client, _chunk);
        if (!_streamed.Wait(TimeSpan.FromSeconds(60)))
            throw new InvalidOperationException("the server did not count 64 MiB");
    }

    private void Connect()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        _client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
        {
            NoDelay = true,
            ReceiveTimeout = 30_000,
            SendTimeout = 30_000,
        };
        _client.Connect(listener.LocalEndPoint!);
        Socket accepted = listener.Accept();
        accepted.NoDelay = true; // as EgressServer.AcceptLoop sets it
        _server = ServerEnd.Create(Transport, accepted);
    }

    private static void SendAll(Socket socket, byte[] data)
    {
        for (int sent = 0; sent < data.Length;)
            sent += socket.Send(data, sent, data.Length - sent, SocketFlags.None);
    }

    /// <summary>The server's request loop: read until a whole head is in, consume it, answer.</summary>
    private static async Task AnswerRequests(ServerEnd server)
    {
        PipeReader input = server.Input;
        while (true)
        {
            ReadResult read = await input.ReadAsync().ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = read.Buffer;
            if (HeadEnd(buffer) is { } end)
            {
                input.AdvanceTo(end);
                await server.Send(Response).ConfigureAwait(false);
                continue;
            }
            input.AdvanceTo(buffer.Start, buffer.End);
            if (read.IsCompleted)
                return;
        }
    }

    /// <summary>The position just past the first "\r\n\r\n", if the buffer holds one.</summary>
    private static SequencePosition? HeadEnd(in ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        return reader.TryReadTo(out ReadOnlySequence<byte> _, "\r\n\r\n"u8) ? reader.Position : null;
    }

    /// <summary>The server's streaming loop: consume everything, release the client every 64 MiB.</summary>
    private static async Task CountBytes(ServerEnd server, SemaphoreSlim streamed)
    {
        PipeReader input = server.Input;
        long received = 0;
        long mark = StreamBytes;
        while (true)
        {
            ReadResult read = await input.ReadAsync().ConfigureAwait(false);
            received += read.Buffer.Length;
            input.AdvanceTo(read.Buffer.End);
            for (; received >= mark; mark += StreamBytes)
                streamed.Release();
            if (read.IsCompleted)
                return;
        }
    }

    /// <summary>An HTTP head of exactly <paramref name="size"/> bytes: the given lines, a padding header, the blank line.</summary>
    private static byte[] Head(int size, string lines)
    {
        const string pad = "X-Pad: ";
        int fill = size - lines.Length - pad.Length - 4;
        if (fill < 1)
            throw new ArgumentOutOfRangeException(nameof(size));
        byte[] head = Encoding.ASCII.GetBytes(lines + pad + new string('p', fill) + "\r\n\r\n");
        return head.Length == size ? head : throw new InvalidOperationException("head size");
    }
}

/// <summary>The server's end of the connection behind one transport.</summary>
internal abstract class ServerEnd : IDisposable
{
    public abstract PipeReader Input { get; }

    public abstract ValueTask Send(ReadOnlyMemory<byte> data);

    public abstract void Dispose();

    public static ServerEnd Create(ServerTransport transport, Socket accepted) => transport switch
    {
        ServerTransport.Framework => new FrameworkEnd(accepted),
        ServerTransport.Unofficial => new UnofficialEnd(SocketConnection.Create(accepted)),
        ServerTransport.UnofficialTuned => new UnofficialEnd(SocketConnection.Create(
            accepted, UnofficialEnd.TunedPipe, SocketConnectionOptions.InlineReads | SocketConnectionOptions.InlineWrites)),
        _ => throw new ArgumentOutOfRangeException(nameof(transport)),
    };
}

/// <summary>As EgressConnection.Serve: a PipeReader over a NetworkStream, responses written to the stream.</summary>
internal sealed class FrameworkEnd : ServerEnd
{
    private static readonly StreamPipeReaderOptions PipeOptions = new(bufferSize: 64 * 1024, minimumReadSize: 16 * 1024);
    private readonly NetworkStream _stream;

    public FrameworkEnd(Socket socket)
    {
        _stream = new NetworkStream(socket, ownsSocket: true);
        Input = PipeReader.Create(_stream, PipeOptions);
    }

    public override PipeReader Input { get; }

    public override ValueTask Send(ReadOnlyMemory<byte> data) => _stream.WriteAsync(data);

    public override void Dispose()
    {
        Input.Complete();
        _stream.Dispose();
    }
}

/// <summary>SocketConnection's duplex pipe: its own receive and send loops move bytes between the socket and two Pipes.</summary>
internal sealed class UnofficialEnd(SocketConnection connection) : ServerEnd
{
    public static readonly PipeOptions TunedPipe = new(
        pauseWriterThreshold: 1024 * 1024, resumeWriterThreshold: 512 * 1024, minimumSegmentSize: 64 * 1024, useSynchronizationContext: false);

    public override PipeReader Input => connection.Input;

    public override ValueTask Send(ReadOnlyMemory<byte> data)
    {
        ValueTask<FlushResult> flush = connection.Output.WriteAsync(data);
        if (flush.IsCompletedSuccessfully)
        {
            _ = flush.Result;
            return default;
        }
        return Await(flush);

        static async ValueTask Await(ValueTask<FlushResult> flush) => await flush.ConfigureAwait(false);
    }

    public override void Dispose()
    {
        connection.Input.Complete();
        connection.Output.Complete();
        connection.Dispose();
    }
}
