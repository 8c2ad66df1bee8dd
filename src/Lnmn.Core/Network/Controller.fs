/// The Stack-NMN layout controller: per step t, a query u from the question and the previous
/// textual parameter, module weights w(t) = softmax(W_m u), and word attention giving c_t.
module Lnmn.Core.Network.Controller

open TorchSharp

type ControllerStep =
    { /// (B, M) softmax weights over modules, in the spec's module order.
      ModuleWeights: torch.Tensor
      /// (B, S), zero at padding.
      WordAttention: torch.Tensor
      /// (B, d) textual parameter c_t.
      Text: torch.Tensor }

/// d = question dimension (2 × LSTM hidden).
type Controller(steps: int, d: int, modules: int) as this =
    inherit torch.nn.Module("controller")
    // u = W2 [W1(t) q + b1 ; c_{t−1}] + b2: W1 per step without bias, b1 shared.
    let stepProjections = Tensors.uniformParameter [| int64 steps; int64 d; int64 d |] d
    let sharedBias = Tensors.uniformParameter [| int64 d |] d
    let combine = torch.nn.Linear(int64 (2 * d), int64 d)
    let moduleScores = torch.nn.Linear(int64 d, int64 modules, hasBias = false)
    let wordScores = torch.nn.Linear(int64 d, 1L)
    let initialText = Tensors.uniformParameter [| int64 d |] d
    do
        this.register_parameter("step_projections", stepProjections)
        this.register_parameter("shared_bias", sharedBias)
        this.register_parameter("initial_text", initialText)
        this.register_module("combine", combine)
        this.register_module("module_scores", moduleScores)
        this.register_module("word_scores", wordScores)

    /// The authors' code for the parameters outside standard layers: W1(t) xavier-normal, b1 zero,
    /// c_0 ~ N(0,1).
    member _.InitialiseAsAuthors() =
        use _ = torch.no_grad ()
        for t in 0 .. steps - 1 do torch.nn.init.xavier_normal_ stepProjections.[int64 t] |> ignore
        torch.nn.init.zeros_ sharedBias |> ignore
        torch.nn.init.normal_(initialText, 0.0, 1.0) |> ignore

    /// c_0 broadcast to the batch: (B, d).
    member _.InitialText(batch: int64) = initialText.unsqueeze(0L).expand(batch, -1L)

    /// question (B, d); words (B, S, d); valid (B, S) bool; previousText (B, d).
    member _.Step(t: int, question: torch.Tensor, words: torch.Tensor, valid: torch.Tensor, previousText: torch.Tensor) =
        let projected = question.matmul(stepProjections.[t].t()) + sharedBias
        let u = combine.call(torch.cat([| projected; previousText |], -1L))
        let attention = wordScores.call(u.unsqueeze(1L) * words).squeeze(-1L) |> Tensors.maskedSoftmax valid
        { ModuleWeights = moduleScores.call(u).softmax(-1L)
          WordAttention = attention
          Text = attention.unsqueeze(1L).bmm(words).squeeze(1L) }
