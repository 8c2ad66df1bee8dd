/// Bi-LSTM question encoder. Padding never changes any output: the backward direction runs over
/// each question reversed within its own length, and both directions' final states are read at the
/// last real word.
module Lnmn.Core.Network.QuestionEncoder

open TorchSharp
open TorchSharp.Modules

type Encoded =
    { /// (B, S, 2·hidden); zero at padding positions.
      Words: torch.Tensor
      /// (B, 2·hidden): final forward state ; final backward state.
      Question: torch.Tensor }

/// Index (B, S) that reverses each row's first `length` positions and leaves the padding in place.
let reversalIndex (lengths: torch.Tensor) (maxLength: int64) =
    let positions = torch.arange(maxLength, device = lengths.device).unsqueeze(0L)
    let lengths = lengths.unsqueeze(1L)
    torch.where(positions.lt(lengths), lengths - 1L - positions, positions)

let private gatherRows (index: torch.Tensor) (x: torch.Tensor) =
    x.gather(1L, index.unsqueeze(-1L).expand(-1L, -1L, x.shape.[2]))

type QuestionEncoder(vocabulary: int, embedDim: int, hidden: int) as this =
    inherit torch.nn.Module("question_encoder")
    let embedding = torch.nn.Embedding(int64 vocabulary, int64 embedDim, padding_idx = 0L)
    let forwardLstm = torch.nn.LSTM(int64 embedDim, int64 hidden, batchFirst = true)
    let backwardLstm = torch.nn.LSTM(int64 embedDim, int64 hidden, batchFirst = true)
    do
        this.register_module("embedding", embedding)
        this.register_module("forward_lstm", forwardLstm)
        this.register_module("backward_lstm", backwardLstm)

    /// tokens (B, S) int64 with 0 as padding; lengths (B) int64, each ≥ 1.
    member _.Encode(tokens: torch.Tensor, lengths: torch.Tensor) : Encoded =
        let maxLength = tokens.shape.[1]
        let embedded = embedding.call tokens
        let reverse = reversalIndex lengths maxLength
        let struct (forwardOut, _, _) = forwardLstm.call(embedded, System.Nullable())
        let struct (reversedOut, _, _) = backwardLstm.call(gatherRows reverse embedded, System.Nullable())
        let backwardOut = gatherRows reverse reversedOut
        let last = (lengths - 1L).reshape(-1L, 1L, 1L).expand(-1L, 1L, int64 hidden)
        let question =
            torch.cat([| forwardOut.gather(1L, last).squeeze(1L); reversedOut.gather(1L, last).squeeze(1L) |], -1L)
        let real = Tensors.lengthMask lengths maxLength
        { Words = torch.cat([| forwardOut; backwardOut |], -1L) * real.unsqueeze(-1L).to_type(forwardOut.dtype)
          Question = question }
