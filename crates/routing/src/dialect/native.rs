//! Requests for providers with their own wire format (Gemini `generateContent` and
//! `batchEmbedContents`, Bedrock Converse), translated from OpenAI chat. OpenAI chat is the
//! pivot: an Anthropic client's request goes Anthropic → OpenAI → native, with the same
//! translators the direct pairings use, so every fix to one translation serves every pairing.
//! (Their answers come back through `codec::native`.)

use tollgate_config::ProviderKind;
use tollgate_formats::anthropic::MessagesRequest;
use tollgate_formats::bedrock;
use tollgate_formats::gemini;
use tollgate_formats::translate::{self, ChatRequest, Warning};
use tollgate_formats::{FormatError, openai};

use super::Prepared;
use crate::mode::{Mode, NativeKind, to_json};
use crate::route_table::Deployment;

/// The request for a Gemini or Bedrock deployment, from an OpenAI (or Anthropic) client body.
pub(crate) fn request(
    anthropic_client: bool,
    dep: &Deployment,
    body: &[u8],
) -> Result<Prepared, FormatError> {
    let upstream = dep.upstream_model.as_str();
    let mut warnings: Vec<Warning> = Vec::new();
    let (mut chat, include_usage) = if anthropic_client {
        let req: MessagesRequest = translate::from_json(body)?;
        let t = translate::anthropic_to_openai_request(req, upstream)?;
        warnings.extend(t.warnings);
        // The Anthropic side always reports usage at the end.
        (t.request, true)
    } else {
        let req: ChatRequest = translate::from_json(body)?;
        let include = req
            .stream_options
            .as_ref()
            .is_some_and(|o| o.include_usage == Some(true));
        (req, include)
    };
    upstream.clone_into(&mut chat.model);
    match dep.provider.kind {
        ProviderKind::Gemini => {
            // Gemini caches implicitly; explicit caches are separate resources.
            warnings.extend(translate::strip_cache_control(
                &mut chat,
                "Gemini caches prompts implicitly",
            ));
            let t = gemini::openai_to_gemini_request(chat)?;
            warnings.extend(t.warnings);
            Ok(Prepared {
                body: to_json(&t.value)?,
                mode: Mode::Native {
                    kind: NativeKind::Gemini,
                    anthropic_client,
                    include_usage,
                    json_tool: None,
                },
                warnings,
            })
        }
        _ => {
            let t = bedrock::openai_to_converse_request(chat)?;
            warnings.extend(t.warnings);
            Ok(Prepared {
                body: to_json(&t.request)?,
                mode: Mode::Native {
                    kind: NativeKind::Bedrock,
                    anthropic_client,
                    include_usage,
                    json_tool: t.json_tool,
                },
                warnings,
            })
        }
    }
}

/// An OpenAI embeddings body for a Gemini deployment.
pub(crate) fn embeddings_request(dep: &Deployment, body: &[u8]) -> Result<Prepared, FormatError> {
    let estimate = openai::peek_embeddings(body)?.prompt_tokens_estimate;
    let req = gemini::openai_to_gemini_embeddings(body, &dep.upstream_model)?;
    Ok(Prepared {
        body: to_json(&req)?,
        mode: Mode::GeminiEmbeddings {
            prompt_tokens: estimate,
            base64: gemini::wants_base64(body),
        },
        warnings: Vec::new(),
    })
}
