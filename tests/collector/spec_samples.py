# ruff: noqa: E501, W291
"""The spec's own sample requests, verbatim (comments and typos included), by name.

Copied from ../shared/spec/smartkarrot-api-docs.txt; ``test_spec_samples`` checks they still
match it when the spec is beside the repository.
"""

SAMPLES: dict[str, str] = {
    "auth_curl_user": """{"appId": "4ed062f1-fc38-4f32-a714-b63dc5399626","platform":"iOS","deviceId": "53e11019-8034-496b-a484-fa978918873c","loginMechanism" : "AUTH","bundleId": "com.smartkarrot.tasks","lastLoggedInUserId": "f1d0c16d-f9e0-4eb4-8739-45574c43f508","userId": "8f2dfb97-fe4b-49b3-a5d5-a671335cde00","sessionId": "234240-234-234-234-234-234237B891079-A302-4DDD-8860-2672B9682A3B","status": "Active","customerAccountId": "de8327c8-ece7-427a-ba8f-e4c7809ea716"}""",
    "customer": """{
  "appId": "4ed062f1-fc38-4f32-a714-b63dc5399626",
  "accountId": "de8327c8-ece7-427a-ba8f-e4c7809ea716",
  "name" : "SmartKarrot",
  "base64EncodedLogoImage" : "iVBORw0KGgoAAAANSUhEUgAAADAAAAAwCAYAAABXAvmHAAAAAXNSR0IArs4c6QAAAVlpVFh0WE1MOmNvbS5hZG9iZS54bXAAAAAAADx4OnhtcG1ldGEgeG1sbnM6eD0iYWRvYmU6bnM6bWV0YS8iIHg6eG1wdGs9IlhNUCBDb3JlIDUuNC4wIj4KICAgPHJ",
  "productIds":["91ed7505-f106-4e03-b88b-63b76693f391"],
  "status": "Active"
}""",
    "user": """{
  "appId": "4ed062f1-fc38-4f32-a714-b63dc5399626",
  "customerAccountId": "de8327c8-ece7-427a-ba8f-e4c7809ea716",
  "userId": "8f2dfb97-fe4b-49b3-a5d5-a671335cde00",
  "status": "Active",
  "platform":"iOS",
  "deviceId": "53e11019-8034-496b-a484-fa978918873c",
  "loginMechanism" : "AUTH",
  "bundleId": "com.smartkarrot.tasks",
  "sessionId": "234240-234-234-234-234-234237B891079-A302-4DDD-8860-2672B9682A3B"
}""",
    "event": """{
  "events": [
    {
      "name": "Purchase Product",
      "loggedAtTime": "2020-03-28T12:07:58.165Z",
      "parameters": [
        {
          "attributeName": "Module",
          "dataType": "String",
          "stringValue": "Product"
        },
        {
          "attributeName": "List Price",
          "dataType": "String",
          "stringValue": "$ 45"
        }
      ]
    }
  ],
  "userId": "28f05cea-4721-0818-2a7c-a88b102012fa",
  "appId": "a8548489-6d1d-44c4-b068-061f48c9f93c",
  "sessionId": "d28d89fwi5eupw8wfw7f94",
  "deviceId": "45010143537367203626121537363900144024",
  "platform": "Web",
  "customerAccountId": "35373-67203-62612-15373-63900-1440",
  "productId":"91ed7505-f106-4e03-b88b-63b76693f391",
  "userSourceIP":"142.250.182.36",
  "appVersion": "1.0"
}""",
    "session_start": """{
  "events": [
    {
      "name": "app_session_start",
      "loggedAtTime": "2019-03-28T12:07:58.165Z",
      "parameters": [
        {
          "attributeName": "sessionId",
          "dataType": "String",
          "stringValue": "j28d89f9wi5eup4789794"
        },
        {
          "attributeName": "startTime",
          "dataType": "Date",
          "stringValue": "2019-03-28T12:07:58.165Z"
        }
      ]
    }
  ],
  "userId": "28f05cea-4721-0818-2a7c-a88b102012fa",
  "appId": "a8548489-6d1d-44c4-b068-061f48c9f93c",
  "deviceId": "45010143537367203626121537363900144024",
  "platform": "Web",
  "customerAccountId": "35373-67203-62612-15373-63900-1440",
  "productId":"91ed7505-f106-4e03-b88b-63b76693f391",
  "userSourceIP":"142.250.182.36",
  "appVersion": "1.0"
}""",
    "session_end": """{
  "events": [
    {
      "name": "app_session_end",
      "loggedAtTime": "2019-03-28T12:07:58.165Z",
      "parameters": [
        {
          "attributeName": "sessionId",
          "dataType": "String",
          "stringValue": "j28d89f9wi5eup4789794"
        },
        {
          "attributeName": "endTime",
          "dataType": "Date",
          "stringValue": "2019-03-28T12:07:58.165Z"
        }
      ]
    }
  ],
  "userId": "28f05cea-4721-0818-2a7c-a88b102012fa",
  "appId": "a8548489-6d1d-44c4-b068-061f48c9f93c",
  "deviceId": "45010143537367203626121537363900144024",
  "platform": "Web",
  "customerAccountId": "35373-67203-62612-15373-63900-1440",
  "productId":"91ed7505-f106-4e03-b88b-63b76693f391",
  "userSourceIP":"142.250.182.36",
  "appVersion": "1.0"
}""",
    "page_load": """{
  "events": [
    {
      "name": "page_load_event",
      "loggedAtTime": "2019-03-28T12:07:58.165Z",
      "parameters": [
        {
          "attributeName": "requestCount",
          "dataType": "Number",
          "numberValue": 54
        },
        {
          "attributeName": "loadTime",
          "dataType": "Number",
          "numberValue": 32.3
        },
        {
          "attributeName": "pageUrl",
          "dataType": "String",
          "stringValue": "https://devstage.smartkarrot.com/#/demo-events"
        }
      ]
    }
  ],
  "userId": "28f05cea-4721-0818-2a7c-a88b102012fa",
  "appId": "a8548489-6d1d-44c4-b068-061f48c9f93c",
  "sessionId": "j28d89f9wi5eup4789794",
  "deviceId": "45010143537367203626121537363900144024",
  "platform": "Web",
  "customerAccountId": "35373-67203-62612-15373-63900-1440",
  "productId":"91ed7505-f106-4e03-b88b-63b76693f391",
  "userSourceIP":"142.250.182.36",
  "appVersion": "1.0"
}""",
    "user_attributes": """{
  "userId": "8f2dfb97-fe4b-49b3-a5d5-a671335cde00",
  "deviceId" : "53e11019-8034-496b-a484-fa978918873c",
  "platform" : "Web",
  "appId": "4ed062f1-fc38-4f32-a714-b63dc5399626",
  "sessionId": "4ed062f1-fc38-4f32-a714-b63dc5399626CF32B30B-B7B0-4F5B-B278-408E5D02484E",
  "customerAccountId" : "35373-67203-62612-15373-63900-1440",
  "userAttributes": [
    {
      "name": "Subscribed To Email",
      "dataType": "Boolean",
      "booleanValue": true,
      "loggedAtTime": "2018-12-14T07:46:31.565Z"
    },
    {
      "name": "Region",
      "dataType": "String",
      "stringValue": "US",
      "loggedAtTime": "2018-12-14T07:46:31.565Z"
    },
    {
      "name": "Gender",
      "dataType": "String",
      "stringValue": "Male",
      "loggedAtTime": "2018-12-14T07:46:31.565Z"
    },
    {
      "name": "Age",
      "dataType": "Number",
      "numberValue": 25,
      "loggedAtTime": "2018-12-14T07:46:31.565Z"
    }
  ]
}""",
    "device_attributes": """{
  "appId": "4ed062f1-fc38-4f32-a714-b63dc5399626",
  "platform": "Web",
  "deviceId": "53e11019-8034-496b-a484-fa978918873c",
  "idempotencyId": "9890BDAA-CF16-4A08-A8F7-9F680D9ADEBA",
  "userId": "8f2dfb97-fe4b-49b3-a5d5-a671335cde00",
  "sessionId": "234240-234-234-234-234-234237B891079-A302-4DDD-8860-2672B9682A3B",
  "deviceAttributes": {
    "App Bundle Identifier": "org.app.demo.UsageAnalytics",
    "Make": "Apple"
  }
}""",
    "device_token": """{
  "appId": "4ed062f1-fc38-4f32-a714-b63dc5399626",
  "platform":"iOS",
  "deviceId": "53e11019-8034-496b-a484-fa978918873c",
  "idempotencyId": "9890BDAA-CF16-4A08-A8F7-9F680D9ADEBA",
  "userId": "8f2dfb97-fe4b-49b3-a5d5-a671335cde00",
  "sessionId": "234240-234-234-234-234-234237B891079-A302-4DDD-8860-2672B9682A3B",
  "deviceToken": "740f4707 bebcf74f 9b7c25d4 8e335894 5f6aa01d a5ddb387 462c7eaf 61bb78ad",
  "appInDistribution": true
}""",
    "financial_curl_order": """{ "appId" :"3956ca1e-d306-4dea-abc1-bfdabe44b524", "productId":"c519d994-a0cb-41f9-89ba-074a63923239" "orderId":"038883ee-88b5-4851-a0cd-eb704e085cfe", "customerAccountId":"csm-id-CA", "status":"Activated", "amount" : 21325.0, "effectiveDate":"2019-05-12", "endDate" :"2020-05-12" }""",
    "order": """{
  "orderId": "8920b276-5d2f-457c-87c4-af7156d2fe95",
  "status": "Activated",
  "endDate": "2020-12-31",
  "customerAccountId": "d28f2cc6-4385-47b7-ab51-3fda6d0c1ab6",
  "appId": "c50f05b4-0fc7-43c7-88f6-46f0f0aef4a3",
  "amount": 8400,
  "effectiveDate": "2020-01-01",
  "orgProductId":"91ed7505-f106-4e03-b88b-63b76693f391"
}""",
    "delete_order": """{
  "appId" : "c50f05b4-0fc7-43c7-88f6-46f0f0aef4a3"
}""",
    "app_financial_data": """{
  "appId" : "c50f05b4-0fc7-43c7-88f6-46f0f0aef4a3",
  "logoChurnTolerance": 0.05                // logoChurnTolerance = 5% 
}""",
    "account_financial_data": """{
  "customerAccountId": "d28f2cc6-4385-47b7-ab51-3fda6d0c1ab6",
  "appId": "c50f05b4-0fc7-43c7-88f6-46f0f0aef4a3",  
  "accountStartDate": "2020-12-31",
  "arrTarget": 1000000
}""",
    "delete_account_financial_data": """{
  "appId" : "c50f05b4-0fc7-43c7-88f6-46f0f0aef4a3"
}""",
    "comment_curl": """{"ticketId": "a354da06-ef51-4570-a473-7e7986d9bcac","description":"Description 3.0 for the comment","createdByType": "agent","createdBy" : "056f8591-3d96-4de8-8c9c-b8c713bc102a"}""",
    "get_contacts": """{
  "appId": "2d07df27-cc9e-4533-a321-dfcfe049a6ea",
  "limit": 2,
  "nextPageToken": "eyJjb250YWN0SWQiOnsicyI6Ijk0YmJhMzM0LWU4NDktNDE2NC05MGRhLTQ4OTIzNjhlZjMxYSJ9LCJjcmVhdGVUaW1lIjp7InMiOiIyMDIwLTExLTIzVDA2OjE2OjIzLjgyMFoifSwiYXBwSWQiOnsicyI6IjJkMDdkZjI3LWNjOWUtNDUzMy1hMzIxLWRmY2ZlMDQ5YTZlYSJ9fQ=="
}""",
    "create_contacts": """{
  "appId": "7aa6b29b-709d-4d65-b1ea-acc8793c3e9a",
  "contacts": [
    {
      "email": "david.lyon@yopmail.com",
      "firstName": "David",
      "lastName": "Lyon",
      "customerContactId" : "EZ141",
      "role": "Lead Engineer",
      "countryCode": "+91",
      "phoneNumber": "6901313214",
      "uploadedImageUrl": "www.dummyurl.com/12-23.jpg"
    },
    {
      // "email": "Andrew.Shaw@yopmail.com",
      "firstName": "Andrew",
      "lastName": "Shaw",
      "customerContactId" : "EZ143",
      "role": "Data Scientist",
      "countryCode": "+404",
      "phoneNumber": "345957392",
      "uploadedImageUrl": "www.dummyurl.com/21-4.jpg"
    }
  ]
}""",
    "save_agents": """ {
   "appId": "7aa6b29b-709d-4d65-b1ea-acc8793c3e9a",
   "agents": [
    {
      "firstName": "Salman",
      "lastName": "Katamond",
      "email": "salman.k@yopmail.com",
      "customerAgentId" : "MK-agent003",
      "phoneNumber": "+606-303-21",
      "countryCode": "+404",
      "uploadedImageUrl": "www.dummyurl.com/12-23" 
    },
    {
      "firstName": "Mathew",
      "lastName": "Wade",
      //"email": "mathew.wade@yopmail.com",
      "customerAgentId" : "ZY-agent67",
      "phoneNumber": "+202-1212-12",
      "countryCode": "+44",
      "uploadedImageUrl": "www.34dummyurl.com/4.5"
    }
  ]
}""",
    "create_ticket": """{  
    "appId" : "7aa6b29b-709d-4d65-b1ea-acc8793c3e9a",
    "visibleId" : "TicketMx-EOD41",
    "accountId" : "b6a96d3d-1253-4fee-ba0d-80dddf01c09b",
    "ticketName" : "Payment subdue",
    "createdBy" : "e895da5d-90fd-438e-b9d6-a51e8d335752",
    "createdByType" : "contact",
    "assignedTo" : "f6deca9f-f7a2-4487-8bd9-621f2bb225c8",
    "dueDate" : "2021-01-12",
    "escalation" : "escalated",
    "priority" : "High",
    "status" : "Open",
    "type" : "Payment iussue",
    "customFields" : {
        "expiry" : "none",
        "csm" : "Unassigned"
    }
}""",
    "update_ticket": """{
    "id" : "72d4c1ea-a151-4beb-894e-0776ceb954c0",
    "visbleId" : "EZ1014a",
    "accountId" : "b6a96d3d-1253-4fee-ba0d-80dddf01c09b",
    "assignedTo" : "0ee3cc23-20af-4f90-9c1f-802e8f59346",
    "ticketName" :"Payment subdue",
    "dueDate" : "2021-01-12T14:48:00.000Z",
    "priority" : "High",
    "createByType" : "agent ",
    "status" : "closed",
    "escalation" : "escalated",
    "type" : "Payment query",
    "customFields" : {
        "key1" :"value1",
        "key2" : "value2"
    }
}""",
    "delete_ticket": """{
    "message": "Ticket deleted"
}""",
    "create_comment": """{
  "ticketId" : "9c68623f-7340-456b-a272-29c741c31a43",
  "description" : "version 3.0 to be released for the beta clients",
  "createdByType" : "agent",
  "createdBy" :"50a0347b-9f19-4283-a247-18450b87220a"
  }""",
    "edit_comment": """{
    "id":"d02f2965-5dc1-4ba9-861f-b11a6a309e81",
    "description" : "The progress on usage analytics is steady."
}""",
}
