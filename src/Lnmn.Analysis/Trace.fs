/// One question followed through a forward pass: module weights w(t), word attention and the map
/// under the stack pointer at every step, as plain arrays for pictures.
module Lnmn.Analysis.Trace

open TorchSharp
open Lnmn.Core.Network

type QuestionTrace =
    { Words: string list
      /// Display names of the spec's modules, in spec order.
      Modules: string list
      /// [t][m]: w(t) of module m at step t.
      ModuleWeights: float[][]
      /// [t][s]: attention on word s at step t.
      WordAttention: float[][]
      /// [t][h][w]: the map under the pointer after step t.
      AttentionMaps: float[][][] }

let private rows (t: torch.Tensor) : float[][] =
    let values = t.detach().cpu().to_type(torch.float64).contiguous().data<float>().ToArray()
    let width = int t.shape.[1]
    Array.init (int t.shape.[0]) (fun i -> values.[i * width .. (i + 1) * width - 1])

/// Module names as the tables print them: index and kind ("m3 attention-4in", "m8 NoOp").
let moduleNames (network: LnmnNetwork.LnmnNetwork) =
    network.Spec.Modules |> List.mapi (fun i m -> $"m{i} {Lnmn.Core.Specs.ModuleSpec.name m}")

/// Example `index` of a forward pass over a batch whose question `index` has these `words`
/// (padding left out).
let ofForward (network: LnmnNetwork.LnmnNetwork) (result: LnmnNetwork.ForwardResult) (index: int) (words: string list) =
    let i = int64 index
    let n = int64 words.Length
    { Words = words
      Modules = moduleNames network
      ModuleWeights = rows result.ModuleWeights.[i]
      WordAttention = rows (result.WordAttention.[i].narrow(1L, 0L, n))
      AttentionMaps = [| for t in 0L .. result.AttentionMaps.shape.[1] - 1L -> rows result.AttentionMaps.[i, t] |] }
