/// Fine-tuning on a dataset with more words (the paper's CLEVR → CLEVR-Humans step): a network for
/// the larger vocabulary starts from a trained one; new words get new embedding rows, every other
/// parameter, and the old rows, are copied.
module Lnmn.Core.Training.FineTune

open TorchSharp
open Lnmn.Core.Specs
open Lnmn.Core.Network

let embeddingName = "encoder.embedding.weight"

/// The trained spec with room for `vocabulary` words.
let expandedSpec (trained: ModelSpec) (vocabulary: int) =
    if vocabulary < trained.Dims.Vocabulary then
        invalidArg "vocabulary" "a fine-tuning vocabulary keeps every trained word, so it cannot be smaller"
    { trained with Dims = { trained.Dims with Vocabulary = vocabulary } }

/// Copies `trained`'s parameters into `target` (built from `expandedSpec`): the embedding's first
/// rows, everything else whole. The new rows keep their fresh initialisation.
let copyInto (trained: LnmnNetwork.LnmnNetwork) (target: LnmnNetwork.LnmnNetwork) =
    use _ = torch.no_grad ()
    let source = trained.named_parameters() |> Seq.map (fun struct (name, p) -> name, p) |> Map.ofSeq
    for struct (name, p) in target.named_parameters() do
        let from: Modules.Parameter = source.[name]
        if name = embeddingName then p.narrow(0L, 0L, from.shape.[0]).copy_(from) |> ignore
        else p.copy_(from) |> ignore
