using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using Sandboxrun.Netns.Egress;

namespace Sandboxrun.Proxy;

/// <summary>
/// Copies exactly one message body from a pipe to a stream, by its framing (RFC 9112 §6.3):
/// nothing after it (a pipelined request, or bytes a server sends past its response) is passed
/// on as part of it. Chunked bodies are forwarded verbatim, chunk lines checked.
/// </summary>
internal static class MessageBody
{
    private const int MaxChunkLine = 4096;

    /// <summary>Returns the bytes written to <paramref name="to"/>; <paramref name="progress"/> hears of every write (idle timers).</summary>
    public static async Task<long> Copy(PipeReader from, Stream to, BodyFraming framing, long length, CancellationToken token, Action<long>? progress = null)
    {
        switch (framing)
        {
            case BodyFraming.None:
                return 0;
            case BodyFraming.Length:
                await CopyExactly(from, to, length, token, progress).ConfigureAwait(false);
                return length;
            case BodyFraming.UntilClose:
                return await CopyToEnd(from, to, token, progress).ConfigureAwait(false);
            case BodyFraming.Chunked:
                return await CopyChunked(from, to, token, progress).ConfigureAwait(false);
            default:
                throw new ArgumentOutOfRangeException(nameof(framing));
        }
    }

    /// <summary>
    /// Each chunk line is read and checked before a byte of it is forwarded: a chunk size that is
    /// not hex (with optional extensions), a data chunk not followed by CRLF, or a trailer line that
    /// is no header field ends the transfer, and the invalid bytes never reach the other side.
    /// </summary>
    private static async Task<long> CopyChunked(PipeReader from, Stream to, CancellationToken token, Action<long>? progress)
    {
        long total = 0;
        while (true) // chunk-size [ext] CRLF data CRLF ... 0 CRLF trailers CRLF
        {
            byte[] line = await ReadLine(from, token).ConfigureAwait(false);
            long size = ChunkSize(line);
            await to.WriteAsync(line, token).ConfigureAwait(false);
            total += line.Length;
            if (size == 0)
            {
                while (true)
                {
                    byte[] trailer = await ReadLine(from, token).ConfigureAwait(false);
                    if (trailer.Length > 2 && !IsFieldLine(trailer))
                        throw new IOException("a trailer line that is not a header field");
                    await to.WriteAsync(trailer, token).ConfigureAwait(false);
                    total += trailer.Length;
                    if (trailer.Length == 2)
                        return total;
                }
            }
            await CopyExactly(from, to, size, token, progress).ConfigureAwait(false);
            byte[] end = await ReadLine(from, token).ConfigureAwait(false);
            if (end.Length != 2)
                throw new IOException("chunk data not followed by CRLF");
            await to.WriteAsync(end, token).ConfigureAwait(false);
            total += size + 2;
        }
    }

    /// <summary>chunk-size = 1*HEXDIG, then optional whitespace and ";ext" (RFC 9112 §7.1.1); at most 15 digits.</summary>
    private static long ChunkSize(byte[] line)
    {
        ReadOnlySpan<byte> text = line.AsSpan(0, line.Length - 2);
        int semi = text.IndexOf((byte)';');
        ReadOnlySpan<byte> digits = (semi < 0 ? text : text[..semi]).TrimEnd(" \t"u8);
        if (digits.Length is 0 or > 15 || !long.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out long size))
            throw new IOException("bad chunk size");
        if (HttpSyntax.HasControls(text))
            throw new IOException("control characters in a chunk line");
        return size;
    }

    private static bool IsFieldLine(byte[] line)
    {
        ReadOnlySpan<byte> text = line.AsSpan(0, line.Length - 2);
        int colon = text.IndexOf((byte)':');
        return colon > 0 && HttpSyntax.IsToken(text[..colon]) && !HttpSyntax.HasControls(text[colon..]);
    }

    /// <summary>The next line including its CRLF (bounded, CR only before LF), consumed from the pipe; nothing is forwarded yet.</summary>
    private static async Task<byte[]> ReadLine(PipeReader from, CancellationToken token)
    {
        while (true)
        {
            ReadResult read = await from.ReadAsync(token).ConfigureAwait(false);
            SequencePosition? lf = read.Buffer.PositionOf((byte)'\n');
            if (lf is SequencePosition at)
            {
                ReadOnlySequence<byte> line = read.Buffer.Slice(0, read.Buffer.GetPosition(1, at));
                byte[] bytes = line.ToArray();
                from.AdvanceTo(line.End);
                if (bytes.Length < 2 || bytes[^2] != '\r' || Array.IndexOf(bytes, (byte)'\r') != bytes.Length - 2 || bytes.Length > MaxChunkLine)
                    throw new IOException("a chunk line not ending in CRLF");
                return bytes;
            }
            if (read.IsCompleted || read.Buffer.Length > MaxChunkLine)
                throw new IOException("truncated or oversized chunk line");
            from.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }
    }

    private static async Task CopyExactly(PipeReader from, Stream to, long length, CancellationToken token, Action<long>? progress = null)
    {
        while (length > 0)
        {
            ReadResult read = await from.ReadAsync(token).ConfigureAwait(false);
            ReadOnlySequence<byte> chunk = read.Buffer.Slice(0, Math.Min(length, read.Buffer.Length));
            foreach (ReadOnlyMemory<byte> segment in chunk)
                await to.WriteAsync(segment, token).ConfigureAwait(false);
            length -= chunk.Length;
            from.AdvanceTo(chunk.End);
            progress?.Invoke(chunk.Length);
            if (length > 0 && read.IsCompleted)
                throw new IOException("message body truncated");
        }
    }

    /// <summary>Everything until end of stream; <paramref name="progress"/> hears of every write (byte counts, idle timers).</summary>
    public static async Task<long> CopyToEnd(PipeReader from, Stream to, CancellationToken token, Action<long>? progress = null)
    {
        long total = 0;
        while (true)
        {
            ReadResult read = await from.ReadAsync(token).ConfigureAwait(false);
            foreach (ReadOnlyMemory<byte> segment in read.Buffer)
                await to.WriteAsync(segment, token).ConfigureAwait(false);
            total += read.Buffer.Length;
            from.AdvanceTo(read.Buffer.End);
            if (!read.Buffer.IsEmpty)
                progress?.Invoke(read.Buffer.Length);
            if (read.IsCompleted)
                return total;
        }
    }
}
