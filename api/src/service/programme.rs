//! What administrators set of the programme's mechanics: event bonuses, status levels,
//! offers' budgets and gift certificates (the admin service's calls, kept here).

use super::admin::AdminApi;
use super::{invalid, status, Rpc};
use crate::convert as cv;
use crate::pb;
use loyalty_core::command::Command;
use loyalty_core::model::BonusKind;
use loyalty_core::state::StateView;
use tonic::Response;

impl AdminApi {
    pub(super) async fn set_bonus_rule_call(
        &self,
        req: tonic::Request<pb::SetBonusRuleRequest>,
    ) -> Rpc<pb::AdminReply> {
        let operator = self.authorize(req.metadata())?;
        let pb::SetBonusRuleRequest { operation_id, rule } = req.into_inner();
        let rule = cv::bonus_rule(rule).map_err(invalid)?;
        let command = Command::SetBonusRule { rule };
        Ok(Response::new(
            self.run(operator, &operation_id, command).await?,
        ))
    }

    pub(super) async fn bonus_rules_call(
        &self,
        req: tonic::Request<pb::BonusRulesRequest>,
    ) -> Rpc<pb::BonusRulesReply> {
        self.authorize(req.metadata())?;
        let rules = self
            .engine
            .read(|v| {
                BonusKind::ALL
                    .iter()
                    .filter_map(|k| v.bonus_rule(*k))
                    .map(|r| cv::bonus_rule_to_pb(&r))
                    .collect()
            })
            .map_err(status)?;
        Ok(Response::new(pb::BonusRulesReply { rules }))
    }

    pub(super) async fn set_tiers_call(
        &self,
        req: tonic::Request<pb::SetTiersRequest>,
    ) -> Rpc<pb::AdminReply> {
        let operator = self.authorize(req.metadata())?;
        let pb::SetTiersRequest {
            operation_id,
            levels,
            months,
            rolling,
        } = req.into_inner();
        let tiers = cv::tiers(levels, months, rolling).map_err(invalid)?;
        let command = Command::SetTiers { tiers };
        Ok(Response::new(
            self.run(operator, &operation_id, command).await?,
        ))
    }

    pub(super) async fn set_tier_floor_call(
        &self,
        req: tonic::Request<pb::SetTierFloorRequest>,
    ) -> Rpc<pb::AdminReply> {
        let operator = self.authorize(req.metadata())?;
        let pb::SetTierFloorRequest {
            operation_id,
            card,
            floor,
        } = req.into_inner();
        let command = Command::SetTierFloor {
            card: cv::card("card", &card).map_err(invalid)?,
            floor: cv::tier_name("floor", &floor).map_err(invalid)?,
        };
        Ok(Response::new(
            self.run(operator, &operation_id, command).await?,
        ))
    }

    pub(super) async fn tiers_call(
        &self,
        req: tonic::Request<pb::TiersRequest>,
    ) -> Rpc<pb::TiersReply> {
        self.authorize(req.metadata())?;
        let tiers = self.engine.read(|v| v.tiers()).map_err(status)?;
        Ok(Response::new(
            tiers.map(|t| cv::tiers_to_pb(&t)).unwrap_or_default(),
        ))
    }

    pub(super) async fn offer_budgets_call(
        &self,
        req: tonic::Request<pb::OfferBudgetsRequest>,
    ) -> Rpc<pb::OfferBudgetsReply> {
        self.authorize(req.metadata())?;
        let offers = self
            .engine
            .read(|v| {
                v.offers()
                    .iter()
                    .filter_map(|o| Some((o, o.limits?)))
                    .map(|(o, l)| cv::offer_budget(o, l, v.offer_given(o.id)))
                    .collect()
            })
            .map_err(status)?;
        Ok(Response::new(pb::OfferBudgetsReply { offers }))
    }

    pub(super) async fn issue_certificate_call(
        &self,
        req: tonic::Request<pb::IssueCertificateRequest>,
    ) -> Rpc<pb::AdminReply> {
        let operator = self.authorize(req.metadata())?;
        let pb::IssueCertificateRequest {
            operation_id,
            code,
            amount,
            valid_days,
        } = req.into_inner();
        let command = cv::issue_certificate(&code, &amount, valid_days).map_err(invalid)?;
        Ok(Response::new(
            self.run(operator, &operation_id, command).await?,
        ))
    }

    pub(super) async fn certificate_call(
        &self,
        req: tonic::Request<pb::CertificateStatusRequest>,
    ) -> Rpc<pb::AdminReply> {
        self.authorize(req.metadata())?;
        let code = cv::certificate_code("code", &req.into_inner().code).map_err(invalid)?;
        let r = self
            .engine
            .read(|v| loyalty_core::decide::certificate_status(v, None, &code))
            .map_err(status)?;
        Ok(Response::new(pb::AdminReply {
            outcome: cv::outcome(r.code).into(),
            message: r.message,
            certificate: r.certificate.map(cv::certificate),
            ..Default::default()
        }))
    }
}
